/**
 * `wsq conformance` against the project's own server (in-process, on each store, short
 * heartbeat, ack timeout and bad-frame limit so that those checks can run): every
 * numbered requirement must be PASS, N/A (an optional 1.x part absent), NOT TESTABLE or
 * NOT COVERED; each requirement is its own test, named after it.
 */
import t from 'tap';
import { formatResult, formatSummary, REQUIREMENTS, runConformance } from '../../lib/conformance/index.js';
import { STORES, storeOptions } from '../helpers/logs.js';
import { startServer } from '../helpers/server.js';

for (const kind of STORES)
  t.test(`wsq conformance passes against the reference server (${kind} store)`, async (t) => {
    const { server, url } = await startServer(t, { ...(await storeOptions(t, kind)), heartbeatMs: 1000, ackTimeoutMs: 1000, badFrameLimit: 20 });
    // An application middleware that refuses one token, so R2.1.9 and R2.2.5 can run.
    server.use((socket, next) => (socket.handshake.token === 'cf-refused' ? next(new Error('this token is refused')) : next()));
    const results = await runConformance(url, { waitMs: 1500, token: 'cf-good', refusedToken: 'cf-refused' });
    t.equal(results.length, REQUIREMENTS.length, 'one result per numbered requirement');
    t.same(results.filter((r) => r.status === 'fail').map(formatResult), [], 'no requirement fails');
    for (const r of results) {
      if (r.status !== 'fail') t.pass(`${r.id} ${r.title}: ${r.status}`);
      else t.fail(formatResult(r));
    }
    t.comment(formatSummary(results, url));
    const passed = results.filter((r) => r.status === 'pass').length;
    t.ok(passed >= 120, `${passed} requirements pass`);
  });
