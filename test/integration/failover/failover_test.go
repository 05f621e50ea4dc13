package failover

import (
	"context"
	"fmt"
	"k8s.io/client-go/rest"
	"log/slog"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/berth/berth/internal/agent/simulated"
	"github.com/berth/berth/internal/controller"
	"github.com/berth/berth/internal/storage/etcd/etcdtest"
	"github.com/berth/berth/test/integration/framework"
)

const (
	lockName  = "berth-controller-manager"
	namespace = "failover"
	// slack covers request latency and a loaded machine on top of the election timing.
	slack = 3 * time.Second
	// retryWindow is the longest a candidate waits between two tries: client-go jitters
	// RetryPeriod by up to 1.2 times itself.
	retryWindow = controller.RetryPeriod + controller.RetryPeriod*12/10
)

// TestLeaderFailover runs two servers on one external etcd with simulated nodes, then:
//  1. scales a Deployment from 10 to 30 and, as the first new pod appears, kills
//     (SIGKILL) the leading server: the standby takes over within the lease duration
//     and the Deployment ends with exactly 30 pods, none duplicated (never more than 30
//     live at once), none lost;
//  2. restarts the killed server as the standby, scales to 40 and, as the first new pod
//     appears, stops (SIGTERM) the new leader: it releases the lease once its loops have
//     stopped, the standby takes over at once, and again there are exactly 40.
func TestLeaderFailover(t *testing.T) {
	etcdtest.SkipWithoutBinary(t)
	klog.SetSlogLogger(slog.New(slog.DiscardHandler)) // client-go's reconnect noise
	bin := framework.BerthPath(t)
	etcdURL := etcdtest.StartExternal(t)

	dirA, dirB := t.TempDir(), t.TempDir()
	addrA, addrB := framework.FreeLoopbackAddr(t), framework.FreeLoopbackAddr(t)
	serverA := startServer(t, bin, "A", dirA, addrA, etcdURL)
	waitLeader(t, dirA, addrA)
	// B shares A's CA and node token, as the servers of an HA control plane do.
	sharePKI(t, dirA, dirB)
	serverB := startServer(t, bin, "B", dirB, addrB, etcdURL)

	// Clients and nodes reach the servers through a front that points at B for now.
	lb := newFront(addrB)
	adminCfg, nodeCfg := lb.configs(t, dirA)
	client := kubernetes.NewForConfigOrDie(adminCfg)
	leases := watchLease(t, client, lockName)
	t.Logf("A (%s) leads: %s", addrA, leases.waitHolder(t, addrA, 30*time.Second).holder)

	ctx := context.Background()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := recordPods(t, client, namespace)
	framework.RunSimulatedNodes(t, simulated.Config{RestConfig: nodeCfg, Nodes: 3, NamePrefix: "sim-"}) // through the front

	deployments := client.AppsV1().Deployments(namespace)
	if _, err := deployments.Create(ctx, deployment("web", 10), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPods(t, pods, 10, 60*time.Second)
	before := pods.counts().uids

	// Service-account tokens are signed with the key kept in etcd: a token one server
	// issued (B, through the front) is good at every server.
	tr, err := client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, "default", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{addrA, addrB} {
		cfg := &rest.Config{Host: "https://" + addr, BearerToken: tr.Status.Token, TLSClientConfig: rest.TLSClientConfig{CAFile: filepath.Join(dirA, "tls", "ca.crt")}}
		review, err := kubernetes.NewForConfigOrDie(cfg).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil || review.Status.UserInfo.Username != "system:serviceaccount:"+namespace+":default" {
			t.Errorf("B's token at %s: %v %+v", addr, err, review)
		}
	}

	// 1. SIGKILL the leader right after a scale-up.
	// Kill at the first new pod, so that the leader dies in the middle of its creates.
	scale(t, client, "web", 30)
	pods.waitLive(10, 10*time.Second)
	serverA.signal(t, syscall.SIGKILL)
	killed := time.Now()
	atKill := pods.counts().live
	_ = serverA.wait(t, 10*time.Second)
	// client-go times the lease from when the standby saw the last renew, at one of its
	// tries, and takes it at its first try after that: at most two retry windows on top
	// of the lease duration.
	killLimit := controller.LeaseDuration + 2*retryWindow + slack
	next := leases.waitHolder(t, addrB, killLimit+10*time.Second)
	takeover := next.acquired.Sub(killed)
	t.Logf("SIGKILL of the leader → B acquired the lease after %s (its watch saw it after %s; lease %s, retry %s)",
		takeover.Round(time.Millisecond), next.seen.Sub(killed).Round(time.Millisecond), controller.LeaseDuration, controller.RetryPeriod)
	t.Logf("pods live: %d when A was killed, %d when B took over", atKill, pods.counts().live)
	if takeover > killLimit {
		t.Errorf("takeover after SIGKILL took %s, want at most lease duration + 2 retry windows + slack = %s", takeover, killLimit)
	}
	waitPods(t, pods, 30, 60*time.Second)
	checkPods(t, pods, client, "web", 30, before)

	// 2. Restart A as the standby, point the front at it, and SIGTERM the leader B right
	// after a scale-up.
	serverA = startServer(t, bin, "A'", dirA, addrA, etcdURL)
	lb.set(addrA)
	before = pods.counts().uids
	pods.resetMax()
	scale(t, client, "web", 40)
	pods.waitLive(30, 10*time.Second)
	serverB.signal(t, syscall.SIGTERM)
	stopped := time.Now()
	atStop := pods.counts().live
	next = leases.waitHolder(t, addrA, controller.LeaseDuration+slack)
	t.Logf("pods live: %d when B was stopped, %d when A' took over", atStop, pods.counts().live)
	// B releases the lease once its loops have stopped, which takes what it takes on a
	// loaded machine: time the takeover from the release (the Lease's own stamps, B's
	// acquireTime of the empty holder and then A's), not from the signal.
	released, ok := leases.releasedBefore(addrA)
	if !ok {
		t.Fatalf("B never released the lease before A' took it; holders: %v", leases.history())
	}
	takeover = next.acquired.Sub(released.acquired)
	t.Logf("SIGTERM of the leader → released after %s, A' acquired the lease %s after the release (its watch saw it %s after the signal)",
		released.acquired.Sub(stopped).Round(time.Millisecond), takeover.Round(time.Millisecond), next.seen.Sub(stopped).Round(time.Millisecond))
	// The standby watches the Lease and tries as soon as it is released, rather than at
	// its next retry, RetryPeriod or more later.
	if limit := controller.RetryPeriod; takeover > limit {
		t.Errorf("takeover took %s after the release, want less than a retry period (%s): does the standby try at once?", takeover, limit)
	}
	if err := serverB.wait(t, 30*time.Second); err != nil {
		t.Errorf("B's exit after SIGTERM: %v (want status 0)", err)
	}
	waitPods(t, pods, 40, 60*time.Second)
	checkPods(t, pods, client, "web", 40, before)
	t.Logf("lease holders: %v", leases.history())
}

func deployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1.0"}}},
			},
		},
	}
}

func scale(t *testing.T, client kubernetes.Interface, name string, replicas int32) {
	t.Helper()
	_, err := client.AppsV1().Deployments(namespace).UpdateScale(context.Background(), name,
		&autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}, Spec: autoscalingv1.ScaleSpec{Replicas: replicas}},
		metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("scale %s to %d: %v", name, replicas, err)
	}
}

// waitLeader waits until the server at addr holds the controllers' Lease, asking it
// directly with its own admin kubeconfig.
func waitLeader(t *testing.T, dataDir, addr string) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dataDir, "admin.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	client := kubernetes.NewForConfigOrDie(cfg)
	eventually(t, time.Minute, addr+" leads", func() (bool, string) {
		l, err := client.CoordinationV1().Leases(metav1.NamespaceSystem).Get(context.Background(), lockName, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		holder := ptr.Deref(l.Spec.HolderIdentity, "")
		return strings.Contains(holder, "_"+addr+"_"), "holder " + holder
	})
}

// waitPods waits for want live pods, all Running.
func waitPods(t *testing.T, pods *podLog, want int, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("%d pods Running", want), func() (bool, string) {
		c := pods.counts()
		return c.live == want && c.running == want, fmt.Sprintf("%d live, %d running, by owner %v", c.live, c.running, c.owners)
	})
}

// checkPods: exactly want pods, one owner, every pod ever created still there (so none
// duplicated and deleted again), those of before among them, never more than want live.
func checkPods(t *testing.T, pods *podLog, client kubernetes.Interface, name string, want int, before map[types.UID]bool) {
	t.Helper()
	d, err := client.AppsV1().Deployments(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "deployment status caught up", func() (bool, string) {
		d, err = client.AppsV1().Deployments(namespace).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		st := d.Status
		return st.ObservedGeneration == d.Generation && st.Replicas == int32(want) && st.ReadyReplicas == int32(want),
			fmt.Sprintf("generation %d, status %+v", d.Generation, st)
	})
	c := pods.counts()
	t.Logf("%d pods: %d live, %d running, ever created %d, at most %d live at once, %d deleted, by owner %v",
		want, c.live, c.running, c.seen, c.maxLive, c.deleted, c.owners)
	if c.live != want || c.seen != want || c.deleted != 0 {
		t.Errorf("want exactly %d pods ever created and none deleted; got %d live of %d created, %d deleted", want, c.live, c.seen, c.deleted)
	}
	if c.maxLive > want {
		t.Errorf("%d pods live at once, more than the %d wanted: a duplicate", c.maxLive, want)
	}
	if len(c.owners) != 1 {
		t.Errorf("pods owned by %v, want one ReplicaSet", c.owners)
	}
	for uid := range before {
		if !c.uids[uid] {
			t.Errorf("pod %s, live before the failover, is gone", uid)
		}
	}
}
