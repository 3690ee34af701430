import { test } from '@playwright/test';

/**
 * Records a measured number on the running test (an annotation in the report) and prints it,
 * so the closing notes can quote what the run measured.
 */
export function note(name: string, value: unknown): void {
  const text = typeof value === 'number' ? value.toFixed(3) : JSON.stringify(value);
  test.info().annotations.push({ type: name, description: text });
  console.log(`  ${name}: ${text}`);
}
