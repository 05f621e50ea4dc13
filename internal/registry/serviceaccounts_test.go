package registry

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/berth/berth/internal/storage/memory"
)

// serviceAccountStores are the pods, serviceaccounts and priorityclasses stores wired as
// berth server wires them: the ServiceAccount admission chained before Priority.
func serviceAccountStores(t *testing.T) (pods, accounts *Store, admission *ServiceAccountAdmission) {
	t.Helper()
	st := memory.New(memory.Options{})
	t.Cleanup(func() { _ = st.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var classes *Store
	for _, r := range Builtin() {
		switch r.Name {
		case "pods":
			pods = NewStore(r, st, NewScheme(), slog.New(slog.DiscardHandler))
		case "serviceaccounts":
			accounts = NewStore(r, st, NewScheme(), slog.New(slog.DiscardHandler))
		case "priorityclasses":
			classes = NewStore(r, st, NewScheme(), slog.New(slog.DiscardHandler))
		}
	}
	admission = NewServiceAccountAdmission(ctx, accounts)
	priority := NewPriorityAdmission(ctx, classes)
	pods.Admission.Mutate = Mutators(admission.AdmitPod, priority.AdmitPod)
	return pods, accounts, admission
}

func newAccount(ns, name string, mutate ...func(*corev1.ServiceAccount)) *corev1.ServiceAccount {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	for _, m := range mutate {
		m(sa)
	}
	return sa
}

// newAccountPod is a pod in "default" with an init container and two containers.
func newAccountPod(name string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox"}},
			Containers:     []corev1.Container{{Name: "app", Image: "busybox"}, {Name: "sidecar", Image: "nginx"}},
		},
	}
	for _, m := range mutate {
		m(pod)
	}
	return pod
}

// awaitFollowed waits until the admission's copy of the accounts has key, so that a test
// exercises the copy rather than the storage fallback.
func awaitFollowed(t *testing.T, a *ServiceAccountAdmission, key string) {
	t.Helper()
	timeout := time.NewTimer(5 * time.Second)
	defer timeout.Stop()
	for {
		_, ok, changed := a.known.getOrChanged(key)
		if ok {
			return
		}
		select {
		case <-changed:
		case <-timeout.C:
			t.Fatalf("the followed copy never had %s", key)
		}
	}
}

// upstreamTokenVolume is the kube-api-access volume as kube-apiserver stores it
// (kubectl get pod -o json against Kubernetes v1.3x), its random suffix written xxxxx.
const upstreamTokenVolume = `{"name":"kube-api-access-xxxxx","projected":{"sources":[` +
	`{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},` +
	`{"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}},` +
	`{"downwardAPI":{"items":[{"path":"namespace","fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"}}]}}` +
	`],"defaultMode":420}}`

// tokenVolumeName: the prefix and five characters of the alphabet generateName uses.
var tokenVolumeName = regexp.MustCompile(`^kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}$`)

// tokenVolumes returns the pod's kube-api-access volumes.
func tokenVolumes(pod *corev1.Pod) []corev1.Volume {
	var vols []corev1.Volume
	for _, v := range pod.Spec.Volumes {
		if strings.HasPrefix(v.Name, "kube-api-access-") {
			vols = append(vols, v)
		}
	}
	return vols
}

// mountsAtTokenPath lists, per init then regular container, the volume mounted at the
// token path ("" for none), with ",ro" when read-only.
func mountsAtTokenPath(pod *corev1.Pod) []string {
	var got []string
	for _, c := range append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...) {
		m := ""
		for _, vm := range c.VolumeMounts {
			if vm.MountPath == "/var/run/secrets/kubernetes.io/serviceaccount" {
				m = vm.Name
				if vm.ReadOnly {
					m += ",ro"
				}
			}
		}
		got = append(got, m)
	}
	return got
}

func TestServiceAccountAdmissionOfPods(t *testing.T) {
	pods, accounts, admission := serviceAccountStores(t)
	ctx := context.Background()
	for _, sa := range []*corev1.ServiceAccount{
		newAccount("default", "default"),
		newAccount("default", "robot"),
		newAccount("default", "eager", func(sa *corev1.ServiceAccount) { sa.AutomountServiceAccountToken = ptr.To(true) }),
		newAccount("default", "shy", func(sa *corev1.ServiceAccount) { sa.AutomountServiceAccountToken = ptr.To(false) }),
		newAccount("default", "puller", func(sa *corev1.ServiceAccount) {
			sa.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}, {Name: "mirror"}}
		}),
		// Same name in another namespace: must not admit pods of "default".
		newAccount("other", "elsewhere"),
	} {
		if _, err := accounts.Create(ctx, sa.Namespace, sa, CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	awaitFollowed(t, admission, "other/elsewhere")
	awaitFollowed(t, admission, "default/puller")

	const token = "<token>,ro" // the generated volume's mount
	mirror := func(p *corev1.Pod) {
		p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "abc"}
		p.Spec.NodeName = "n1"
	}
	ownMount := corev1.VolumeMount{Name: "mine", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}
	withOwnVolume := func(p *corev1.Pod) {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "mine", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	}
	tests := []struct {
		name        string
		pod         *corev1.Pod
		wantAccount string
		// wantMounts is mountsAtTokenPath's answer; token stands for the generated volume.
		wantMounts  []string
		wantVolumes int // kube-api-access volumes
		wantPull    []string
		wantErr     string // a 403's message
	}{
		{name: "no account named runs as default", pod: newAccountPod("plain"),
			wantAccount: "default", wantMounts: []string{token, token, token}, wantVolumes: 1},
		{name: "named account", pod: newAccountPod("named", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "robot" }),
			wantAccount: "robot", wantMounts: []string{token, token, token}, wantVolumes: 1},
		{name: "deprecated serviceAccount field", pod: newAccountPod("old", func(p *corev1.Pod) { p.Spec.DeprecatedServiceAccount = "robot" }),
			wantAccount: "robot", wantMounts: []string{token, token, token}, wantVolumes: 1},
		{name: "pod false beats account true", pod: newAccountPod("optout", func(p *corev1.Pod) {
			p.Spec.ServiceAccountName = "eager"
			p.Spec.AutomountServiceAccountToken = ptr.To(false)
		}), wantAccount: "eager", wantMounts: []string{"", "", ""}},
		{name: "account false applies when the pod sets none", pod: newAccountPod("quiet", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "shy" }),
			wantAccount: "shy", wantMounts: []string{"", "", ""}},
		{name: "pod true beats account false", pod: newAccountPod("optin", func(p *corev1.Pod) {
			p.Spec.ServiceAccountName = "shy"
			p.Spec.AutomountServiceAccountToken = ptr.To(true)
		}), wantAccount: "shy", wantMounts: []string{token, token, token}, wantVolumes: 1},
		{name: "a mount at the path is kept", pod: newAccountPod("own", withOwnVolume, func(p *corev1.Pod) {
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{ownMount}
		}), wantAccount: "default", wantMounts: []string{token, "mine", token}, wantVolumes: 1},
		{name: "no volume when every container mounts the path", pod: newAccountPod("allown", withOwnVolume, func(p *corev1.Pod) {
			p.Spec.InitContainers[0].VolumeMounts = []corev1.VolumeMount{ownMount}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{ownMount}
			p.Spec.Containers[1].VolumeMounts = []corev1.VolumeMount{ownMount}
		}), wantAccount: "default", wantMounts: []string{"mine", "mine", "mine"}},
		{name: "an existing kube-api-access volume is reused", pod: newAccountPod("copied", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "kube-api-access-abcde", VolumeSource: corev1.VolumeSource{Projected: tokenVolumeSource()}}}
		}), wantAccount: "default", wantMounts: []string{"kube-api-access-abcde,ro", "kube-api-access-abcde,ro", "kube-api-access-abcde,ro"}, wantVolumes: 1},
		{name: "image pull secrets copied", pod: newAccountPod("pulls", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "puller" }),
			wantAccount: "puller", wantMounts: []string{token, token, token}, wantVolumes: 1, wantPull: []string{"regcred", "mirror"}},
		{name: "the pod's own pull secrets kept", pod: newAccountPod("ownpulls", func(p *corev1.Pod) {
			p.Spec.ServiceAccountName = "puller"
			p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "mine"}}
		}), wantAccount: "puller", wantMounts: []string{token, token, token}, wantVolumes: 1, wantPull: []string{"mine"}},
		{name: "missing account", pod: newAccountPod("p", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "x" }),
			wantErr: `pods "p" is forbidden: error looking up service account default/x: serviceaccount "x" not found`},
		{name: "account of another namespace", pod: newAccountPod("q", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "elsewhere" }),
			wantErr: `pods "q" is forbidden: error looking up service account default/elsewhere: serviceaccount "elsewhere" not found`},
		{name: "missing account, name still to be generated", pod: newAccountPod("", func(p *corev1.Pod) {
			p.GenerateName = "web-"
			p.Spec.ServiceAccountName = "x"
		}), wantErr: `pods "web-" is forbidden: error looking up service account default/x: serviceaccount "x" not found`},
		{name: "mirror pod left alone", pod: newAccountPod("static-n1", mirror), wantMounts: []string{"", "", ""}},
		{name: "mirror pod naming an account", pod: newAccountPod("m1", mirror, func(p *corev1.Pod) { p.Spec.ServiceAccountName = "robot" }),
			wantErr: `pods "m1" is forbidden: a mirror pod may not reference service accounts`},
		{name: "mirror pod with a secret volume", pod: newAccountPod("m2", mirror, func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}}}
		}), wantErr: `pods "m2" is forbidden: a mirror pod may not reference secrets`},
		{name: "mirror pod with a secret env var", pod: newAccountPod("m3", mirror, func(p *corev1.Pod) {
			p.Spec.Containers[1].Env = []corev1.EnvVar{{Name: "PW", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "pw"}}}}
		}), wantErr: `pods "m3" is forbidden: a mirror pod may not reference secrets`},
		{name: "mirror pod with a projected secret", pod: newAccountPod("m4", mirror, func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}}}}}}}
		}), wantErr: `pods "m4" is forbidden: a mirror pod may not reference secrets`},
		{name: "mirror pod with pull secrets", pod: newAccountPod("m5", mirror, func(p *corev1.Pod) {
			p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}}
		}), wantErr: `pods "m5" is forbidden: a mirror pod may not reference secrets`},
		{name: "mirror pod with a token projection", pod: newAccountPod("m6", mirror, func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "t", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}}}
		}), wantErr: `pods "m6" is forbidden: a mirror pod may not use ServiceAccountToken volume projections`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Through the store: the admitted pod must also pass defaulting and validation.
			obj, err := pods.Create(ctx, "default", tt.pod, CreateOptions{})
			if tt.wantErr != "" {
				wantStatus(t, err, 403, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			pod := obj.(*corev1.Pod)
			if pod.Spec.ServiceAccountName != tt.wantAccount || pod.Spec.DeprecatedServiceAccount != tt.wantAccount {
				t.Errorf("serviceAccountName %q serviceAccount %q, want %q", pod.Spec.ServiceAccountName, pod.Spec.DeprecatedServiceAccount, tt.wantAccount)
			}
			if ptr.Deref(pod.Spec.Priority, -1) != 0 {
				t.Errorf("priority %v: the Priority admission did not run after this one", pod.Spec.Priority)
			}
			vols := tokenVolumes(pod)
			if len(vols) != tt.wantVolumes {
				t.Fatalf("%d kube-api-access volumes, want %d: %+v", len(vols), tt.wantVolumes, pod.Spec.Volumes)
			}
			want := strings.Join(tt.wantMounts, " ")
			if len(vols) == 1 {
				want = strings.ReplaceAll(want, "<token>", vols[0].Name)
			}
			if got := strings.Join(mountsAtTokenPath(pod), " "); got != want {
				t.Errorf("mounts at the token path (init, app, sidecar): %q, want %q", got, want)
			}
			var pull []string
			for _, ref := range pod.Spec.ImagePullSecrets {
				pull = append(pull, ref.Name)
			}
			if strings.Join(pull, ",") != strings.Join(tt.wantPull, ",") {
				t.Errorf("imagePullSecrets %v, want %v", pull, tt.wantPull)
			}
		})
	}

	t.Run("the volume is upstream's", func(t *testing.T) {
		obj, err := pods.Get(ctx, "default", "plain")
		if err != nil {
			t.Fatal(err)
		}
		vols := tokenVolumes(obj.(*corev1.Pod))
		if len(vols) != 1 || !tokenVolumeName.MatchString(vols[0].Name) {
			t.Fatalf("token volumes %+v, want one named like %s", vols, tokenVolumeName)
		}
		got, err := json.Marshal(vols[0])
		if err != nil {
			t.Fatal(err)
		}
		if g := strings.Replace(string(got), vols[0].Name, "kube-api-access-xxxxx", 1); g != upstreamTokenVolume {
			t.Fatalf("stored volume\n%s\nupstream's\n%s", g, upstreamTokenVolume)
		}
	})

	t.Run("updates are left alone", func(t *testing.T) {
		res, err := pods.Update(ctx, "default", "quiet", func(cur runtime.Object) (runtime.Object, error) {
			cur.(*corev1.Pod).Labels = map[string]string{"updated": "yes"}
			return cur, nil
		}, UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pod := res.Object.(*corev1.Pod); len(tokenVolumes(pod)) != 0 || pod.Spec.ServiceAccountName != "shy" {
			t.Fatalf("update changed the pod: account %q volumes %+v", pod.Spec.ServiceAccountName, pod.Spec.Volumes)
		}
	})
}

func TestServiceAccountTokenMountSkipsEphemeralContainers(t *testing.T) {
	pod := newAccountPod("debug", func(p *corev1.Pod) {
		p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "dbg", Image: "busybox"}}}
	})
	mountServiceAccountToken(pod)
	if mounts := pod.Spec.EphemeralContainers[0].VolumeMounts; len(mounts) != 0 {
		t.Fatalf("ephemeral container got mounts %+v", mounts)
	}
	if len(tokenVolumes(pod)) != 1 || len(pod.Spec.Containers[1].VolumeMounts) != 1 {
		t.Fatalf("volumes %+v, sidecar mounts %+v", pod.Spec.Volumes, pod.Spec.Containers[1].VolumeMounts)
	}
}

// TestServiceAccountAdmissionWaitsForDefault: in a fresh namespace the controller creates
// "default" a moment after the namespace; a pod created at once waits for it.
func TestServiceAccountAdmissionWaitsForDefault(t *testing.T) {
	pods, accounts, admission := serviceAccountStores(t)
	waiting := make(chan string, 8)
	admission.waiting = func(key string) { waiting <- key }
	ctx := context.Background()

	created := make(chan error, 1)
	go func() {
		key := <-waiting
		if key != "fresh/default" {
			created <- errors.New("waited for " + key)
			return
		}
		// The controller's delay, exaggerated: the create has been waiting 300 ms.
		<-time.After(300 * time.Millisecond)
		_, err := accounts.Create(ctx, "fresh", newAccount("fresh", "default"), CreateOptions{})
		created <- err
	}()
	start := time.Now()
	obj, err := pods.Create(ctx, "fresh", newAccountPod("p", func(p *corev1.Pod) { p.Namespace = "fresh" }), CreateOptions{})
	elapsed := time.Since(start)
	if cerr := <-created; cerr != nil {
		t.Fatalf("creating the account: %v", cerr)
	}
	if err != nil {
		t.Fatalf("pod create %v after start: %v", elapsed, err)
	}
	if pod := obj.(*corev1.Pod); pod.Spec.ServiceAccountName != "default" || len(tokenVolumes(pod)) != 1 {
		t.Fatalf("account %q volumes %+v", pod.Spec.ServiceAccountName, pod.Spec.Volumes)
	}
	if elapsed < 300*time.Millisecond || elapsed > defaultServiceAccountWait {
		t.Fatalf("the create took %v; the account appeared after 300ms", elapsed)
	}

	// Only "default" is waited for: the controller makes no other account.
	_, err = pods.Create(ctx, "fresh", newAccountPod("q", func(p *corev1.Pod) {
		p.Namespace = "fresh"
		p.Spec.ServiceAccountName = "nope"
	}), CreateOptions{})
	wantStatus(t, err, 403, `pods "q" is forbidden: error looking up service account fresh/nope: serviceaccount "nope" not found`)
	select {
	case key := <-waiting:
		t.Fatalf("waited for %s", key)
	default:
	}
}

func TestServiceAccountAdmissionWaitEnds(t *testing.T) {
	tests := []struct {
		name        string
		timeout     time.Duration // of the request's context; 0: none
		least, most time.Duration
	}{
		// Bounds that tell the two ends apart, with room for a loaded machine: the
		// request's deadline ends the wait before the default would.
		{name: "at the request's deadline", timeout: 150 * time.Millisecond, least: 150 * time.Millisecond, most: defaultServiceAccountWait},
		{name: "after two seconds", least: defaultServiceAccountWait, most: defaultServiceAccountWait + 10*time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pods, _, _ := serviceAccountStores(t)
			start := time.Now() // before the deadline is set: it counts from here at the latest
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			_, err := pods.Create(ctx, "empty", newAccountPod("p", func(p *corev1.Pod) { p.Namespace = "empty" }), CreateOptions{})
			elapsed := time.Since(start)
			wantStatus(t, err, 403, `pods "p" is forbidden: error looking up service account empty/default: serviceaccount "default" not found`)
			if elapsed < tt.least || elapsed > tt.most {
				t.Fatalf("refused after %v, want between %v and %v", elapsed, tt.least, tt.most)
			}
		})
	}
}

func TestMutatorsRunInOrder(t *testing.T) {
	var ran []string
	step := func(name string, err error) AdmitFunc {
		return func(context.Context, runtime.Object, runtime.Object) error {
			ran = append(ran, name)
			return err
		}
	}
	refused := errors.New("refused")
	tests := []struct {
		name    string
		steps   []AdmitFunc
		want    string
		wantErr error
	}{
		{name: "all in order", steps: []AdmitFunc{step("a", nil), step("b", nil)}, want: "a,b"},
		{name: "nil skipped", steps: []AdmitFunc{nil, step("b", nil)}, want: "b"},
		{name: "first error stops", steps: []AdmitFunc{step("a", refused), step("b", nil)}, want: "a", wantErr: refused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ran = nil
			err := Mutators(tt.steps...)(context.Background(), &corev1.Pod{}, nil)
			if got := strings.Join(ran, ","); got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Fatalf("ran %q err %v, want %q %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
