package volumes

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
)

func newManager(t *testing.T, objs ...runtime.Object) (*Manager, *fake.Clientset, string) {
	t.Helper()
	client := fake.NewClientset(objs...)
	m, dir := startManager(t, client, nil)
	return m, client, dir
}

// startManager runs a Manager on client (and clk, the real clock when nil) until the
// test ends; it returns the manager and its pods directory.
func startManager(t *testing.T, client *fake.Clientset, clk clock.Clock) (*Manager, string) {
	t.Helper()
	dir := t.TempDir()
	m, err := New(Config{PodsDir: dir, Client: client, Clock: clk, Allocatable: func() corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return m, dir
}

func testPod(vols ...corev1.Volume) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid-1",
			Labels: map[string]string{"b": "2", "a": "x\"y"}, Annotations: map[string]string{"note": "hi"}},
		Spec: corev1.PodSpec{Volumes: vols, Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
		}}}},
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func TestConfigMapVolumeItemsModesAndUpdate(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "ns"},
		Data: map[string]string{"a": "1", "b": "2"}, BinaryData: map[string][]byte{"bin": {0, 1}}}
	m, client, _ := newManager(t, cm)
	pod := testPod(
		corev1.Volume{Name: "all", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptr.To(int32(0o600))}}},
		corev1.Volume{Name: "some", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
			Items:                []corev1.KeyToPath{{Key: "a", Path: "dir/first", Mode: ptr.To(int32(0o400))}}}}},
	)
	ctx := context.Background()
	paths, err := m.Setup(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	all, some := paths["all"], paths["some"]
	if got := readFile(t, filepath.Join(all, "a")); got != "1" {
		t.Errorf("all/a = %q", got)
	}
	if got := readFile(t, filepath.Join(all, "bin")); got != "\x00\x01" {
		t.Errorf("all/bin = %q", got)
	}
	if got := mode(t, filepath.Join(all, "b")); got != 0o600 {
		t.Errorf("all/b mode = %o, want 600", got)
	}
	if got := mode(t, filepath.Join(some, "dir/first")); got != 0o400 {
		t.Errorf("some/dir/first mode = %o, want 400", got)
	}
	if _, err := os.Stat(filepath.Join(some, "b")); !os.IsNotExist(err) {
		t.Errorf("some/b exists: %v", err)
	}
	if target, err := os.Readlink(filepath.Join(all, "a")); err != nil || target != "..data/a" {
		t.Errorf("all/a links to %q (%v), want ..data/a", target, err)
	}

	// An edit reaches the files through the watch, without another Setup.
	cm2 := cm.DeepCopy()
	cm2.Data = map[string]string{"a": "changed"}
	if _, err := client.CoreV1().ConfigMaps("ns").Update(ctx, cm2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the edit in the volume", func() bool {
		b, _ := os.ReadFile(filepath.Join(all, "a"))
		_, err := os.Lstat(filepath.Join(all, "b")) // a removed key goes after the swap
		return string(b) == "changed" && os.IsNotExist(err)
	})
	entries, _ := os.ReadDir(all)
	var ts int
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..ts_") {
			ts++
		}
	}
	if ts != 1 {
		t.Errorf("%d timestamped directories left, want 1", ts)
	}
}

func TestMissingObjects(t *testing.T) {
	m, client, _ := newManager(t)
	client.PrependReactor("create", "serviceaccounts", func(action clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(corev1.Resource("serviceaccounts"), action.(clienttesting.CreateActionImpl).Name)
	})
	token := corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
		{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}
	cases := []struct {
		name           string
		vol            corev1.VolumeSource
		serviceAccount string
		wantErr        string
	}{
		{"missing configMap", corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}, "", `configmap "nope" not found`},
		{"optional configMap", corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr.To(true)}}, "", ""},
		{"missing secret", corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}, "", `secret "s" not found`},
		{"service account token without serviceAccountName", token, "", "failed to fetch token: pod ns/p has no serviceAccountName"},
		{"missing service account", token, "nope", `failed to fetch token: serviceaccounts "nope" not found`},
		{"persistentVolumeClaim", corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}, "", "not supported"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod(corev1.Volume{Name: "v", VolumeSource: tc.vol})
			pod.UID = types.UID("uid-" + strings.ReplaceAll(tc.name, " ", "-"))
			pod.Spec.ServiceAccountName = tc.serviceAccount
			t.Cleanup(func() { _ = m.Teardown(context.Background(), pod.UID) })
			_, err := m.Setup(context.Background(), pod)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Setup: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Setup error = %v, want one containing %q", err, tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), `MountVolume.SetUp failed for volume "v"`):
				t.Fatalf("Setup error = %v, want the kubelet's prefix", err)
			}
		})
	}
}

func TestSecretDownwardAndProjected(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("secret volumes mount tmpfs (root)")
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}, Data: map[string][]byte{"pw": []byte("hunter2")}}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "ns"}, Data: map[string]string{"k": "v"}}
	m, _, podsDir := newManager(t, secret, cm)
	downward := []corev1.DownwardAPIVolumeFile{
		{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
		{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
		{Path: "note", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['note']"}},
		{Path: "cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "app", Resource: "requests.cpu", Divisor: resource.MustParse("1m")}},
		{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "app", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
	}
	pod := testPod(
		corev1.Volume{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}},
		corev1.Volume{Name: "down", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: downward}}},
		corev1.Volume{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			DefaultMode: ptr.To(int32(0o440)),
			Sources: []corev1.VolumeProjection{
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "s"},
					Items: []corev1.KeyToPath{{Key: "pw", Path: "creds/pw"}}}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: downward[1:2]}},
			}}}},
		corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	)
	ctx := context.Background()
	paths, err := m.Setup(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	if !isMountPoint(paths["sec"]) {
		t.Errorf("secret volume %s is not a tmpfs mount", paths["sec"])
	}
	want := map[string]string{
		"sec/pw":        "hunter2",
		"down/labels":   "a=\"x\\\"y\"\nb=\"2\"",
		"down/name":     "p",
		"down/note":     "hi",
		"down/cpu":      "250",
		"down/mem":      "1024",
		"proj/k":        "v",
		"proj/creds/pw": "hunter2",
		"proj/name":     "p",
	}
	for rel, content := range want {
		vol, file, _ := strings.Cut(rel, "/")
		if got := readFile(t, filepath.Join(paths[vol], file)); got != content {
			t.Errorf("%s = %q, want %q", rel, got, content)
		}
	}
	if got := mode(t, filepath.Join(paths["proj"], "creds/pw")); got != 0o440 {
		t.Errorf("projected mode = %o, want 440", got)
	}
	// A second Setup changes nothing and returns the same paths.
	again, err := m.Setup(ctx, pod)
	if err != nil || len(again) != len(paths) {
		t.Fatalf("second Setup: %v %v", again, err)
	}
	if err := m.Teardown(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(podsDir, string(pod.UID), "volumes")); !os.IsNotExist(err) {
		t.Fatalf("volumes dir left after Teardown: %v", err)
	}
	if err := m.Teardown(ctx, pod.UID); err != nil {
		t.Fatalf("second Teardown: %v", err)
	}
}

func TestHostPathTypes(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	cases := []struct {
		path    string
		typ     corev1.HostPathType
		wantErr string
	}{
		{dir, corev1.HostPathUnset, ""},
		{filepath.Join(dir, "missing"), corev1.HostPathUnset, ""},
		{dir, corev1.HostPathDirectory, ""},
		{file, corev1.HostPathDirectory, "is not a directory"},
		{filepath.Join(dir, "new/dir"), corev1.HostPathDirectoryOrCreate, ""},
		{file, corev1.HostPathFile, ""},
		{dir, corev1.HostPathFile, "is not a file"},
		{filepath.Join(dir, "new2/file"), corev1.HostPathFileOrCreate, ""},
		{sock, corev1.HostPathSocket, ""},
		{file, corev1.HostPathSocket, "is not a socket file"},
		{"/dev/null", corev1.HostPathCharDev, ""},
		{file, corev1.HostPathBlockDev, "is not a block device"},
	}
	for _, tc := range cases {
		t.Run(string(tc.typ)+" "+filepath.Base(tc.path), func(t *testing.T) {
			err := checkHostPath(&corev1.HostPathVolumeSource{Path: tc.path, Type: ptr.To(tc.typ)})
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("checkHostPath(%s, %q) = %v, want %q", tc.path, tc.typ, err, tc.wantErr)
			}
		})
	}
	if info, err := os.Stat(filepath.Join(dir, "new2/file")); err != nil || !info.Mode().IsRegular() {
		t.Errorf("FileOrCreate made no file: %v", err)
	}
}

func TestWriteAtomicRefusesBadPaths(t *testing.T) {
	for _, p := range []string{"/abs", "../up", "a/../b", "..data", ""} {
		if _, err := WriteAtomic(t.TempDir(), map[string]File{p: {Mode: 0o644}}); err == nil {
			t.Errorf("WriteAtomic accepted path %q", p)
		}
	}
}
