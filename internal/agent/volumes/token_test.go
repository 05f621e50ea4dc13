package volumes

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

// tokenServer answers TokenRequests on a fake clientset as the API server does, on the
// test's clock, and checks what the agent asks for.
type tokenServer struct {
	t         *testing.T
	clock     *testingclock.FakeClock
	audiences []string // what every request must ask for

	mu       sync.Mutex
	issued   int
	requests map[types.UID]int
	fail     error
}

func newTokenServer(t *testing.T, client *fake.Clientset, clk *testingclock.FakeClock, audiences []string) *tokenServer {
	s := &tokenServer{t: t, clock: clk, audiences: audiences, requests: map[types.UID]int{}}
	client.PrependReactor("create", "serviceaccounts", s.react)
	return s
}

func (s *tokenServer) react(action clienttesting.Action) (bool, runtime.Object, error) {
	create := action.(clienttesting.CreateActionImpl)
	tr := create.Object.(*authenticationv1.TokenRequest)
	if action.GetSubresource() != "token" || create.Name != "robot" || action.GetNamespace() != "ns" {
		s.t.Errorf("TokenRequest for %s/%s subresource %q, want ns/robot token", action.GetNamespace(), create.Name, action.GetSubresource())
	}
	ref := tr.Spec.BoundObjectRef
	if ref == nil || ref.APIVersion != "v1" || ref.Kind != "Pod" || ref.Name == "" || ref.UID == "" ||
		!strings.HasSuffix(string(ref.UID), "-"+ref.Name) {
		s.t.Errorf("boundObjectRef = %+v, want v1 Pod with the pod's name and uid", ref)
		return true, nil, apierrors.NewBadRequest("bad boundObjectRef")
	}
	if !slices.Equal(tr.Spec.Audiences, s.audiences) {
		s.t.Errorf("audiences = %q, want %q", tr.Spec.Audiences, s.audiences)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[ref.UID]++
	if s.fail != nil {
		return true, nil, s.fail
	}
	s.issued++
	out := tr.DeepCopy()
	if out.Spec.ExpirationSeconds == nil {
		out.Spec.ExpirationSeconds = ptr.To(int64(3600))
	}
	out.Status = authenticationv1.TokenRequestStatus{
		Token:               fmt.Sprintf("token-%d", s.issued),
		ExpirationTimestamp: metav1.NewTime(s.clock.Now().Add(time.Duration(*out.Spec.ExpirationSeconds) * time.Second)),
	}
	return true, out, nil
}

func (s *tokenServer) setFail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

func (s *tokenServer) requestsFor(uid types.UID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[uid]
}

// tokenPod is a pod running as serviceaccount ns/robot; its uid ends in its name, which
// the token server checks.
func tokenPod(name string, vols ...corev1.Volume) *corev1.Pod {
	pod := testPod(vols...)
	pod.Name, pod.UID = name, types.UID("uid-"+name)
	pod.Spec.ServiceAccountName = "robot"
	return pod
}

var tokenEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TestTokenCache steps one token source through its life: reuse until 80% of the TTL,
// a new token after, the old one kept while a refresh fails, an error once it expired.
func TestTokenCache(t *testing.T) {
	const ttl = time.Hour
	unavailable := apierrors.NewServiceUnavailable("etcd is down")
	steps := []struct {
		name         string
		at           time.Duration // since the first token was issued
		fail         error
		wantToken    string
		wantErr      string
		wantRequests int
	}{
		{"first read fetches", 0, nil, "token-1", "", 1},
		{"79% reuses it", ttl * 79 / 100, nil, "token-1", "", 1},
		{"81% fetches a new one", ttl * 81 / 100, nil, "token-2", "", 2},
		{"a failed refresh keeps the old one", ttl * 81 / 100 * 2, unavailable, "token-2", "", 3},
		{"expired and the refresh failed", ttl*81/100 + ttl, unavailable, "", "expired and refresh failed: etcd is down", 4},
		{"the API is back", ttl*81/100 + ttl, nil, "token-3", "", 5},
	}
	clk := testingclock.NewFakeClock(tokenEpoch)
	client := fake.NewClientset()
	srv := newTokenServer(t, client, clk, []string{"vault"})
	tokens := newTokens(client, clk, slog.New(slog.DiscardHandler))
	pod := tokenPod("p")
	src := &corev1.ServiceAccountTokenProjection{Path: "token", Audience: "vault", ExpirationSeconds: ptr.To(int64(ttl.Seconds()))}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			clk.SetTime(tokenEpoch.Add(step.at))
			srv.setFail(step.fail)
			got, err := tokens.token(context.Background(), pod, src)
			switch {
			case step.wantErr == "" && err != nil:
				t.Fatalf("token: %v", err)
			case step.wantErr != "" && (err == nil || !strings.Contains(err.Error(), step.wantErr)):
				t.Fatalf("token error = %v, want one containing %q", err, step.wantErr)
			case string(got) != step.wantToken:
				t.Errorf("token = %q, want %q", got, step.wantToken)
			}
			if n := srv.requestsFor(pod.UID); n != step.wantRequests {
				t.Errorf("%d TokenRequests, want %d", n, step.wantRequests)
			}
		})
	}
}

func TestTokenCacheKeysAndErrors(t *testing.T) {
	clk := testingclock.NewFakeClock(tokenEpoch)
	client := fake.NewClientset()
	srv := newTokenServer(t, client, clk, nil)
	tokens := newTokens(client, clk, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	week := &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To(int64(7 * 24 * 3600))}
	read := func(pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection) string {
		t.Helper()
		got, err := tokens.token(ctx, pod, src)
		if err != nil {
			t.Fatal(err)
		}
		return string(got)
	}

	// No audience asks for the server's (nil); a long TTL still rotates after 24 h.
	pod := tokenPod("p")
	first := read(pod, week)
	clk.Step(tokenMaxAge - tokenMaxJitter - time.Second)
	if got := read(pod, week); got != first {
		t.Errorf("token before 24 h = %q, want %q", got, first)
	}
	clk.Step(tokenMaxJitter + time.Second)
	if got := read(pod, week); got == first {
		t.Errorf("token after 24 h is still %q", got)
	}

	// Another pod, or another TTL, is another token.
	other := tokenPod("q")
	if got := read(other, week); got == read(pod, week) {
		t.Errorf("two pods share token %q", got)
	}
	if n := srv.requestsFor(other.UID); n != 1 {
		t.Errorf("%d TokenRequests for the second pod, want 1", n)
	}
	hour := &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To(int64(3600))}
	before := srv.requestsFor(pod.UID)
	read(pod, hour)
	if n := srv.requestsFor(pod.UID); n != before+1 {
		t.Errorf("another TTL made %d TokenRequests, want 1", n-before)
	}

	// Forgetting a pod drops its tokens only.
	tokens.forget(pod.UID)
	tokens.mu.Lock()
	for key := range tokens.cache {
		if key.podUID == pod.UID {
			t.Errorf("token %+v kept after forget", key)
		}
	}
	left := len(tokens.cache)
	tokens.mu.Unlock()
	if left != 1 {
		t.Errorf("%d tokens left, want the other pod's", left)
	}

	// The first request failing is the kubelet's text, with the API's error.
	srv.setFail(apierrors.NewForbidden(corev1.Resource("serviceaccounts"), "robot", fmt.Errorf("no")))
	if _, err := tokens.token(ctx, tokenPod("r"), hour); err == nil ||
		err.Error() != `failed to fetch token: serviceaccounts "robot" is forbidden: no` {
		t.Errorf("error = %v", err)
	}
}

// kubeAPIAccess is the volume ServiceAccount admission injects.
func kubeAPIAccess(audience string) corev1.Volume {
	return corev1.Volume{Name: "kube-api-access-abcde", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: ptr.To(int32(0o644)),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", Audience: audience, ExpirationSeconds: ptr.To(int64(3607))}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		},
	}}}
}

func newTokenManager(t *testing.T, audiences []string) (*Manager, *tokenServer, *testingclock.FakeClock) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("token volumes mount tmpfs (root)")
	}
	ca := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt", Namespace: "ns"}, Data: map[string]string{"ca.crt": "PEM"}}
	client := fake.NewClientset(ca)
	clk := testingclock.NewFakeClock(tokenEpoch)
	srv := newTokenServer(t, client, clk, audiences)
	m, _ := startManager(t, client, clk)
	return m, srv, clk
}

// setUp sets the pod's volumes up and returns the kube-api-access volume's path.
func setUp(t *testing.T, m *Manager, pod *corev1.Pod) string {
	t.Helper()
	paths, err := m.Setup(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Teardown(context.Background(), pod.UID) })
	return paths["kube-api-access-abcde"]
}

func dataTarget(t *testing.T, dir string) string {
	t.Helper()
	target, err := os.Readlink(filepath.Join(dir, dataDirName))
	if err != nil {
		t.Fatal(err)
	}
	return target
}

func waitToken(t *testing.T, dir, want string) {
	t.Helper()
	eventually(t, "token "+want+" in "+dir, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "token"))
		return string(b) == want
	})
}

func TestProjectedTokenVolume(t *testing.T) {
	m, srv, clk := newTokenManager(t, []string{"vault"})
	const ttl = 3607 * time.Second
	pod := tokenPod("p", kubeAPIAccess("vault"))
	dir := setUp(t, m, pod)
	if !isMountPoint(dir) {
		t.Errorf("token volume %s is not a tmpfs mount", dir)
	}
	for file, want := range map[string]string{"token": "token-1", "ca.crt": "PEM", "namespace": "ns"} {
		if got := readFile(t, filepath.Join(dir, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if got := mode(t, filepath.Join(dir, "token")); got != 0o644 {
		t.Errorf("token mode = %o, want the volume's 644", got)
	}
	first := dataTarget(t, dir)

	// At 79% of the TTL the sync loop's Setup rewrites nothing.
	clk.SetTime(tokenEpoch.Add(ttl * 79 / 100))
	setUp(t, m, pod)
	if got := dataTarget(t, dir); got != first || srv.requestsFor(pod.UID) != 1 {
		t.Errorf("at 79%%: ..data -> %s (was %s), %d TokenRequests; want no change", got, first, srv.requestsFor(pod.UID))
	}

	// At 81% the refresh loop swaps a new token in, without a Setup.
	clk.SetTime(tokenEpoch.Add(ttl * 81 / 100))
	waitToken(t, dir, "token-2")
	if got := dataTarget(t, dir); got == first {
		t.Errorf("..data still -> %s after the refresh", got)
	}
	entries, _ := os.ReadDir(dir)
	var ts int
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..ts_") {
			ts++
		}
	}
	if ts != 1 {
		t.Errorf("%d timestamped directories, want 1", ts)
	}

	// A failed refresh keeps the old token; the loop tries again later.
	srv.setFail(apierrors.NewServiceUnavailable("etcd is down"))
	clk.SetTime(tokenEpoch.Add(ttl * 81 / 100 * 2))
	eventually(t, "the failed refresh", func() bool { return srv.requestsFor(pod.UID) == 3 })
	if got := readFile(t, filepath.Join(dir, "token")); got != "token-2" {
		t.Errorf("token after a failed refresh = %q, want token-2", got)
	}
	srv.setFail(nil)
	clk.Step(tokenRetry)
	waitToken(t, dir, "token-3")
}

func TestTeardownStopsTokenRefresh(t *testing.T) {
	m, srv, clk := newTokenManager(t, nil)
	gone, kept := tokenPod("gone", kubeAPIAccess("")), tokenPod("kept", kubeAPIAccess(""))
	goneDir, keptDir := setUp(t, m, gone), setUp(t, m, kept)
	waitToken(t, goneDir, "token-1")
	waitToken(t, keptDir, "token-2")
	if err := m.Teardown(context.Background(), gone.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(goneDir); !os.IsNotExist(err) {
		t.Errorf("%s left after Teardown: %v", goneDir, err)
	}
	// Two refresh rounds of the pod that stays: the first would have asked for the
	// torn-down pod's token too, and the second starts after the first has finished.
	clk.Step(time.Hour)
	waitToken(t, keptDir, "token-3")
	clk.Step(time.Hour)
	waitToken(t, keptDir, "token-4")
	if n := srv.requestsFor(gone.UID); n != 1 {
		t.Errorf("%d TokenRequests for the torn-down pod, want 1", n)
	}
}
