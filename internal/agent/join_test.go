package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/berth/berth/internal/agent"
	"github.com/berth/berth/test/integration/framework"
)

// Joining trades the node token for a certificate limited to the node, stored so the
// next start needs no token.
func TestJoinStoresAPerNodeCredential(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{})
	token, err := os.ReadFile(filepath.Join(c.DataDir, "node-token"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	a, err := agent.New(agent.Config{Server: c.Config.Host, Token: strings.TrimSpace(string(token)), CAPEM: c.Config.CAData, DataDir: dir,
		Options: agent.Options{NodeName: "n1"}})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := a.Credential(ctx)
	if err != nil {
		t.Fatal(err)
	}
	client := kubernetes.NewForConfigOrDie(rc)
	if _, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("own node: %v", err)
	}
	if _, err := client.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("node credential creating a secret: %v, want Forbidden", err)
	}

	// The next start reuses the stored credential: no token needed.
	again, _ := agent.New(agent.Config{Server: c.Config.Host, DataDir: dir, Options: agent.Options{NodeName: "n1"}})
	if _, err := again.Credential(ctx); err != nil {
		t.Fatalf("stored credential not reused: %v", err)
	}
	// Another node name does not take n1's credential.
	other, _ := agent.New(agent.Config{Server: c.Config.Host, DataDir: dir, Options: agent.Options{NodeName: "n9"}})
	if _, err := other.Credential(ctx); err == nil {
		t.Error("n9 used n1's credential")
	}
	// A wrong token is refused.
	bad, _ := agent.New(agent.Config{Server: c.Config.Host, Token: "nope", CAPEM: c.Config.CAData, DataDir: t.TempDir(), Options: agent.Options{NodeName: "n3"}})
	if _, err := bad.Credential(ctx); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("join with a wrong token: %v", err)
	}
	if err := agent.LoadCredential(dir, "n1", []byte("other CA"), time.Now()); err == nil {
		t.Error("credential accepted for another CA")
	}
}
