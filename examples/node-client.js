// A Node client doing the README flow: connect, authenticate, print every message.
//   npm install socket.io-client
//   URL=http://127.0.0.1:9601 USER_ID=5 HASH=xxx1234 node node-client.js
const { io } = require("socket.io-client");

const url = process.env.URL || "http://127.0.0.1:9601";
const userId = process.env.USER_ID || 5;
const hash = process.env.HASH || "xxx1234";

const socket = io(url);
socket.on("connect", () => {
  socket.emit("auth", userId, hash, (res) => {
    if (res && res.ok) console.log(`authenticated as user ${userId}`);
    else console.log(`authentication failed: ${res && res.error}`);
  });
});
// Pushes arrive as "message" (or the event name the sender chose); the last argument is the
// recovery offset, which the client library uses by itself.
socket.on("message", (message) => console.log("message:", JSON.stringify(message)));
socket.on("news", (message) => console.log("news:", JSON.stringify(message)));
socket.on("disconnect", (reason) => console.log("disconnected:", reason));
