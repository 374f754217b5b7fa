import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { END, renderBenchTable, START, withBenchTable, type BenchResults } from '../../scripts/bench-table.ts';

const root = new URL('../../', import.meta.url).pathname;
const results = JSON.parse(readFileSync(`${root}bench/results.json`, 'utf8')) as BenchResults;
const readme = readFileSync(`${root}README.md`, 'utf8');

describe("the README's performance figures", () => {
  it('are exactly the table made from bench/results.json', () => {
    assert.equal(withBenchTable(readme, results), readme, 'stale: run `node scripts/bench-table.ts` after `npm run bench`');
  });

  it('show the measured numbers, and change when they do', () => {
    const table = readme.slice(readme.indexOf(START), readme.indexOf(END));
    assert.match(table, new RegExp(`${results.throughput.keyed.imagesPerSecond.toFixed(0)} images/s`));
    const faster = { ...results, throughput: { ...results.throughput, keyed: { ...results.throughput.keyed, imagesPerSecond: 123_456 } } };
    assert.notEqual(renderBenchTable(faster), renderBenchTable(results));
    assert.match(renderBenchTable(faster), /123456 images\/s/);
  });
});
