// Socket.IO's chat example client (examples/chat/public/main.js), ported to the wsq SDK without jQuery.
// Socket.IO: `const socket = io();` — wsq: `connect(url)`; the events and payloads are the same.
import { connect } from '/wsq-client.js';

const FADE_TIME = 150; // ms
const TYPING_TIMER_LENGTH = 400; // ms
const COLORS = ['#e21400', '#91580f', '#f8a700', '#f78b00', '#58dc00', '#287b00', '#a8f07a', '#4ae8c4', '#3b88eb', '#3824aa', '#a700ff', '#d300e7'];

const $ = (sel) => document.querySelector(sel);
const usernameInput = $('.usernameInput');
const messages = $('.messages');
const inputMessage = $('.inputMessage');
const loginPage = $('.login.page');
const chatPage = $('.chat.page');

let username;
let connected = false;
let typing = false;
let lastTypingTime;
let currentInput = usernameInput;
currentInput.focus();

const socket = connect(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`);

const addParticipantsMessage = (data) => log(data.numUsers === 1 ? "there's 1 participant" : `there are ${data.numUsers} participants`);

// Sets the client's username
const setUsername = () => {
  username = usernameInput.value.trim();
  if (!username) return;
  loginPage.style.display = 'none';
  chatPage.style.display = 'block';
  currentInput = inputMessage;
  currentInput.focus();
  // Tell the server your username
  socket.emit('add user', username);
};

// Sends a chat message
const sendMessage = () => {
  const message = inputMessage.value.trim();
  if (!message || !connected) return;
  inputMessage.value = '';
  addChatMessage({ username, message });
  // tell server to execute 'new message' and send along one parameter
  socket.emit('new message', message);
};

// Log a message
const log = (message) => addMessageElement(Object.assign(document.createElement('li'), { className: 'log', textContent: message }));

// Adds the visual chat message to the message list
const addChatMessage = (data, opts = {}) => {
  const li = document.createElement('li');
  li.className = `message${data.typing ? ' typing' : ''}`;
  li.dataset.username = data.username;
  const name = Object.assign(document.createElement('span'), { className: 'username', textContent: data.username });
  name.style.color = getUsernameColor(data.username);
  const body = Object.assign(document.createElement('span'), { className: 'messageBody', textContent: data.message });
  li.append(name, body);
  if (!data.typing) for (const el of messages.querySelectorAll('.typing.message')) if (el.dataset.username === data.username) el.remove();
  addMessageElement(li, opts);
};

const addChatTyping = (data) => addChatMessage({ ...data, typing: true, message: 'is typing' });
const removeChatTyping = (data) => {
  for (const el of messages.querySelectorAll('.typing.message')) if (el.dataset.username === data.username) el.remove();
};

const addMessageElement = (el) => {
  el.style.transition = `opacity ${FADE_TIME}ms`;
  messages.append(el);
  messages.scrollTop = messages.scrollHeight;
};

// Updates the typing event
const updateTyping = () => {
  if (!connected) return;
  if (!typing) {
    typing = true;
    socket.emit('typing');
  }
  lastTypingTime = Date.now();
  setTimeout(() => {
    if (Date.now() - lastTypingTime >= TYPING_TIMER_LENGTH && typing) {
      socket.emit('stop typing');
      typing = false;
    }
  }, TYPING_TIMER_LENGTH);
};

// Gets the color of a username through our hash function
const getUsernameColor = (name) => {
  let hash = 7;
  for (let i = 0; i < name.length; i++) hash = name.charCodeAt(i) + (hash << 5) - hash;
  return COLORS[Math.abs(hash % COLORS.length)];
};

// Keyboard events
window.addEventListener('keydown', (event) => {
  if (!(event.ctrlKey || event.metaKey || event.altKey)) currentInput.focus();
  if (event.key === 'Enter') {
    if (username) {
      sendMessage();
      socket.emit('stop typing');
      typing = false;
    } else setUsername();
  }
});
inputMessage.addEventListener('input', updateTyping);

// Socket events: the same names and payloads as Socket.IO's example; the manager's events on `socket.io`, as in socket.io-client.
socket.on('login', (data) => {
  connected = true;
  log('Welcome to Socket.IO Chat – ');
  addParticipantsMessage(data);
});
socket.on('new message', (data) => addChatMessage(data));
socket.on('user joined', (data) => {
  log(`${data.username} joined`);
  addParticipantsMessage(data);
});
socket.on('user left', (data) => {
  log(`${data.username} left`);
  addParticipantsMessage(data);
  removeChatTyping(data);
});
socket.on('typing', (data) => addChatTyping(data));
socket.on('stop typing', (data) => removeChatTyping(data));
socket.on('disconnect', () => log('you have been disconnected'));
socket.io.on('reconnect', () => {
  log('you have been reconnected');
  if (username) socket.emit('add user', username);
});
socket.io.on('reconnect_error', () => log('attempt to reconnect has failed'));
