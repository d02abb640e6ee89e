package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestExamples runs examples/node-client.js and examples/admin.sh as the examples README says.
func TestExamples(t *testing.T) {
	requireNode(t)
	s := startServer(t, "", "")
	s.mustAdmin("/user/register", `{"userId":5,"hash":"xxx1234"}`)

	node := exec.Command("node", "../examples/node-client.js")
	node.Env = append(os.Environ(), "NODE_PATH="+nodeModules, "URL="+s.clientURL, "USER_ID=5", "HASH=xxx1234")
	out := &syncBuffer{}
	node.Stdout, node.Stderr = out, out
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Process.Kill(); node.Wait() })
	waitFor(t, 10*time.Second, "the node example to authenticate", func() bool {
		return strings.Contains(out.String(), "authenticated as user 5")
	})

	script := exec.Command("sh", "../examples/admin.sh")
	script.Env = append(os.Environ(), "ADMIN="+s.adminURL)
	replies, err := script.CombinedOutput()
	if err != nil {
		t.Fatalf("admin.sh: %v\n%s", err, replies)
	}
	if n := strings.Count(string(replies), `"result":"OK"`); n != 6 {
		t.Fatalf("admin.sh: %d OK replies, want 6:\n%s", n, replies)
	}
	for _, want := range []string{`message: "example message"`, `message: {"title":"New comment","unread":3}`,
		`news: "custom event"`, `message: "to everyone connected"`} {
		waitFor(t, 5*time.Second, "the node example to print "+want, func() bool { return strings.Contains(out.String(), want) })
	}
}
