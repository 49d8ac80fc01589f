// The README's SDK example: run `node dist/examples/quickstart/sdk.js ws://127.0.0.1:8080/` against `npm start`.
import { connect } from '../../lib/client/index.js';

type Chat = { message: { text: string } };
const url = process.argv[2] ?? 'ws://127.0.0.1:8080/';
const client = connect<Chat, Chat>(url, { client: 'ann' }); // reconnects by itself, with backoff
client.on('reconnecting', () => console.log('reconnecting…'));

const lobby = client.join('lobby', { since: 'earliest' }); // history first, then live; resumes by offset
lobby.on('message', (m, msg) => console.log(`#${msg.offset} ${m.text}`));
lobby.on('gap', (g) => console.log('missed some history', g)); // retention trimmed what we asked for

const { offset } = await client.emitWithAck('message', { text: 'hello' }, { room: 'lobby', echo: true, key: 'ann-1' });
console.log('stored at offset', offset); // acked = stored; resending key ann-1 is safe

const jobs = client.join('jobs', { group: 'workers' }); // competing consumer: each job to one worker
jobs.on('message', async (job) => console.log('doing', job.text)); // resolves → ack; throws → nack and redelivery
await client.close();
