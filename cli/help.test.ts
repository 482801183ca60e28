/** Every command's --help shows each option's default (or says it is required, or has none). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SIMULATE_HELP } from './simulate.ts';
import { FLEET_HELP } from './fleet.ts';
import { SERVER_HELP } from './server.ts';
import { AGENT_HELP } from './agent.ts';
import { DOCTOR_HELP } from './doctor.ts';
import { EXPORT_HELP } from './export.ts';
import { REPORT_HELP } from './report.ts';
import { RELAY_HELP } from './relay.ts';

/** The option entries of a help text: a line starting with "  -" and its more-indented continuation lines. */
function entries(help: string): string[] {
  const out: string[] = [];
  for (const line of help.split('\n')) {
    if (/^ {2}-/.test(line)) out.push(line.trim());
    else if (/^ {3,}\S/.test(line) && out.length > 0 && !/^\s+FILE\b/.test(line)) out[out.length - 1] += ' ' + line.trim();
  }
  return out;
}

const HELPS = { simulate: SIMULATE_HELP, fleet: FLEET_HELP, server: SERVER_HELP, agent: AGENT_HELP, doctor: DOCTOR_HELP, export: EXPORT_HELP, report: REPORT_HELP, relay: RELAY_HELP };

for (const [name, help] of Object.entries(HELPS)) {
  test(`${name} --help shows a default for every option`, () => {
    const list = entries(help);
    assert.ok(list.length >= 3, `${name}: options found`);
    const exempt = /^(-h, --help|--experiment-file|--db FILE +deprecated|--broker, --username)/;
    const missing = list.filter((e) => !exempt.test(e) && !/default|required/i.test(e));
    assert.deepEqual(missing, [], `${name}: options without a default`);
  });
}

test('the experiment file is an option of simulate, fleet and server', () => {
  for (const help of [SIMULATE_HELP, FLEET_HELP, SERVER_HELP]) assert.match(help, /--experiment-file FILE/);
});
