/**
 * Issue 10 item 8: Socket.IO's official chat example, ported (examples/socketio-chat), run with
 * three users on the wsq client SDK: `add user` → `login` and `user joined` with the participant
 * count, `new message` to everyone but the sender, `typing`/`stop typing`, and `user left` when a
 * user goes — the events and payloads of Socket.IO's example. The page, its script and stylesheet
 * are served from the same port as the WebSocket upgrades.
 */
import t from 'tap';
import { connect, type WsqClient } from '../../lib/client/index.js';
import { startChat } from '../../examples/socketio-chat/server.js';

const WAIT = 5000;

/** The next `event` the client receives (bounded). */
function next(client: WsqClient, event: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" within ${WAIT} ms`)), WAIT);
    const on = (data: unknown): void => {
      clearTimeout(timer);
      client.off(event, on);
      resolve(data);
    };
    client.on(event, on);
  });
}

t.test("issue 10 item 8: Socket.IO's chat example, ported, works with three users", async (t) => {
  const chat = await startChat(0);
  t.teardown(() => chat.close());
  const http = `http://127.0.0.1:${chat.port}`;
  const page = await fetch(`${http}/`);
  t.equal(page.status, 200);
  t.match(await page.text(), /What's your nickname\?/, 'the page');
  t.match(await (await fetch(`${http}/main.js`)).text(), /socket\.emit\('add user', username\)/, 'its script');
  t.equal((await fetch(`${http}/style.css`)).status, 200, 'its stylesheet');
  t.equal((await fetch(`${http}/nothing`)).status, 404);

  const url = `ws://127.0.0.1:${chat.port}/`;
  const users: WsqClient[] = [];
  const join = async (name: string): Promise<WsqClient> => {
    const c = connect(url, { reconnect: false });
    users.push(c);
    t.teardown(() => c.close());
    await c.ready();
    const login = next(c, 'login');
    c.emit('add user', name);
    return Object.assign(c, { login: await login });
  };
  const ann = await join('ann');
  t.same((ann as unknown as { login: unknown }).login, { numUsers: 1 }, 'login with the participant count');
  const joined = next(ann, 'user joined');
  const bob = await join('bob');
  t.same((bob as unknown as { login: unknown }).login, { numUsers: 2 });
  t.same(await joined, { username: 'bob', numUsers: 2 }, 'the others hear "user joined"');
  const cy = await join('cy');

  const toBob = next(bob, 'new message');
  const toCy = next(cy, 'new message');
  let annGot = 0;
  ann.on('new message', () => annGot++);
  ann.emit('new message', 'hello');
  t.same(await toBob, { username: 'ann', message: 'hello' }, 'a message reaches the others');
  t.same(await toCy, { username: 'ann', message: 'hello' });

  const typing = next(ann, 'typing');
  bob.emit('typing');
  t.same(await typing, { username: 'bob' }, 'typing');
  const stop = next(cy, 'stop typing');
  bob.emit('stop typing');
  t.same(await stop, { username: 'bob' }, 'stop typing');

  const left = next(ann, 'user left');
  await cy.close();
  t.same(await left, { username: 'cy', numUsers: 2 }, 'a user that goes: "user left" with the new count');
  t.equal(annGot, 0, 'the sender does not get its own message (socket.broadcast)');
});
