// The original README's client snippet, run in Node with socket.io-client 4.x; alert() prints.
// (The README registers hash 'xxx1234' and its snippet says 'xx1234': the snippet's typo is
// fixed here so that the documented flow can succeed.)
var io = require('socket.io-client');
function alert(message) { console.log(JSON.stringify({ type: 'message', message: message })); }

var userId = 5;
var hash = 'xxx1234';

var socket = io.connect('http://127.0.0.1:9601');
socket.on('connect', function () {
	// authenticate
	socket.emit('auth', userId, hash);
	console.log(JSON.stringify({ type: 'connect' }));
});

socket.on('message', function (message) {
	// handle received message
	alert(message);
});
