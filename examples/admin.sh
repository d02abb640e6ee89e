#!/bin/sh
# The admin API with curl, as an application calls it. ADMIN is the admin port's URL; TOKEN,
# when set, is sent as the bearer token (admin.token in the config).
set -e
ADMIN=${ADMIN:-http://127.0.0.1:9600}
auth=""
[ -n "$TOKEN" ] && auth="Authorization: Bearer $TOKEN"

call() { curl -sS -H "${auth:-X-No-Auth: 1}" "$ADMIN$1" -d "$2"; echo; }

call /user/register '{"userId":5,"hash":"xxx1234"}'
call /user/send '{"userId":5,"message":"example message"}'
call /user/send '{"userId":5,"message":{"title":"New comment","unread":3}}'
call /user/send '{"userIds":[5],"message":"custom event","event":"news"}'
call /broadcast '{"message":"to everyone connected"}'
call /user/list ''
