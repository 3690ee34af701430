import { afterAll, beforeAll } from 'vitest';
import { RedisStateStore } from '../src/cluster/RedisStateStore.js';
import { MemoryStateStore } from '../src/state/MemoryStateStore.js';
import { RedisServer } from './redisHarness.js';
import { describeStateStoreContract } from './stateStoreContract.js';

let server: RedisServer;
let n = 0;
beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => {
  await server?.destroy();
});

describeStateStoreContract('MemoryStateStore', async () => {
  const store = new MemoryStateStore();
  return { store, dispose: () => store.close() };
});

describeStateStoreContract('RedisStateStore', async () => {
  const redis = server.connect('contract');
  // A fresh prefix per test: nothing of the previous test is visible.
  const store = new RedisStateStore({ redis, nodeId: 'n1', keyPrefix: `t${++n}:` });
  await store.start();
  return {
    store,
    dispose: async () => {
      await store.close();
      redis.disconnect();
    },
  };
});
