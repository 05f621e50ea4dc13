package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestValidateConfigMap(t *testing.T) {
	valid := func() *corev1.ConfigMap {
		return &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"},
			Data:       map[string]string{"app.conf": "x", ".hidden": "y"},
			BinaryData: map[string][]byte{"logo.png": {1, 2}},
		}
	}
	cases := []struct {
		name   string
		mutate func(*corev1.ConfigMap)
		want   []want
	}{
		{"valid", func(*corev1.ConfigMap) {}, none()},
		{"bad key", func(c *corev1.ConfigMap) { c.Data["a/b"] = "x" }, errs(inv("data[a/b]", "a valid config key must consist of"))},
		{"dotdot key", func(c *corev1.ConfigMap) { c.Data[".."] = "x" }, errs(inv("data[..]", ""))},
		{"bad binary key", func(c *corev1.ConfigMap) { c.BinaryData["a b"] = nil }, errs(inv("binaryData[a b]", ""))},
		{"key in both", func(c *corev1.ConfigMap) { c.BinaryData["app.conf"] = nil }, errs(inv("data[app.conf]", "duplicate of key present in binaryData"))},
		{"too large", func(c *corev1.ConfigMap) { c.Data["big"] = strings.Repeat("x", MaxConfigSize) }, errs(tooLong("[]"))}, // Kubernetes prints "[]: Too long"
		{"bad name", func(c *corev1.ConfigMap) { c.Name = "Cfg" }, errs(inv("metadata.name", ""))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.mutate(c)
			expectErrors(t, ValidateConfigMap(c), tc.want)
		})
	}
	t.Run("update", func(t *testing.T) {
		old := valid()
		old.ResourceVersion = "1"
		c := old.DeepCopy()
		c.Data["app.conf"] = "changed"
		expectErrors(t, ValidateConfigMapUpdate(c, old), none())

		old.Immutable = ptr(true)
		c = old.DeepCopy()
		c.Data["app.conf"] = "changed"
		c.BinaryData = nil
		expectErrors(t, ValidateConfigMapUpdate(c, old), errs(
			forb("data", "field is immutable when `immutable` is set"), forb("binaryData", "")))
		c = old.DeepCopy()
		c.Immutable = ptr(false)
		expectErrors(t, ValidateConfigMapUpdate(c, old), errs(forb("immutable", "")))
	})
}

func TestValidateSecret(t *testing.T) {
	valid := func() *corev1.Secret {
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{"password": []byte("x")},
		}
	}
	cases := []struct {
		name   string
		mutate func(*corev1.Secret)
		want   []want
	}{
		{"valid", func(*corev1.Secret) {}, none()},
		{"valid custom type", func(s *corev1.Secret) { s.Type = "example.com/thing" }, none()},
		{"valid tls", func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeTLS
			s.Data = map[string][]byte{"tls.crt": []byte("c"), "tls.key": []byte("k")}
		}, none()},
		{"valid stringData", func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeTLS
			s.Data = nil
			s.StringData = map[string]string{"tls.crt": "c", "tls.key": "k"}
		}, none()},
		{"tls missing key", func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeTLS
			s.Data = map[string][]byte{"tls.crt": []byte("c")}
		}, errs(req("data[tls.key]"))},
		{"dockerconfigjson missing", func(s *corev1.Secret) { s.Type = corev1.SecretTypeDockerConfigJson },
			errs(req("data[.dockerconfigjson]"))},
		{"dockerconfigjson not json", func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeDockerConfigJson
			s.Data = map[string][]byte{".dockerconfigjson": []byte("{")}
		}, errs(inv("data[.dockerconfigjson]", ""))},
		{"dockerconfigjson valid", func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeDockerConfigJson
			s.Data = map[string][]byte{".dockerconfigjson": []byte(`{"auths":{}}`)}
		}, none()},
		{"basic auth missing both", func(s *corev1.Secret) { s.Type, s.Data = corev1.SecretTypeBasicAuth, nil },
			errs(req("data[username]"), req("data[password]"))},
		{"ssh auth missing key", func(s *corev1.Secret) { s.Type = corev1.SecretTypeSSHAuth }, errs(req("data[ssh-privatekey]"))},
		{"service account token without annotation", func(s *corev1.Secret) { s.Type = corev1.SecretTypeServiceAccountToken },
			errs(req("metadata.annotations[kubernetes.io/service-account.name]"))},
		{"bad key", func(s *corev1.Secret) { s.Data["a b"] = nil }, errs(inv("data[a b]", ""))},
		{"bad stringData key", func(s *corev1.Secret) { s.StringData = map[string]string{"../x": "y"} },
			errs(inv("data[../x]", "a valid config key must consist of"), inv("data[../x]", "must not start with '..'"))},
		{"too large", func(s *corev1.Secret) { s.Data["big"] = make([]byte, MaxConfigSize+1) }, errs(tooLong("data"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := valid()
			tc.mutate(s)
			expectErrors(t, ValidateSecret(s), tc.want)
		})
	}
}

func TestValidateSecretUpdate(t *testing.T) {
	old := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default", ResourceVersion: "1"},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"a": []byte("1")},
	}
	immutable := old.DeepCopy()
	immutable.Immutable = ptr(true)
	cases := []struct {
		name   string
		old    *corev1.Secret
		mutate func(*corev1.Secret)
		want   []want
	}{
		{"data change", old, func(s *corev1.Secret) { s.Data["a"] = []byte("2") }, none()},
		{"type change", old, func(s *corev1.Secret) { s.Type = "example.com/x" }, errs(inv("type", "field is immutable"))},
		{"immutable data change", immutable, func(s *corev1.Secret) { s.Data["a"] = []byte("2") },
			errs(forb("data", "field is immutable when `immutable` is set"))},
		{"immutable stringData change", immutable, func(s *corev1.Secret) { s.StringData = map[string]string{"b": "x"} },
			errs(forb("data", ""))},
		{"immutable unset", immutable, func(s *corev1.Secret) { s.Immutable = nil }, errs(forb("immutable", ""))},
		{"immutable metadata change", immutable, func(s *corev1.Secret) { s.Labels = map[string]string{"a": "b"} }, none()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.old.DeepCopy()
			tc.mutate(s)
			expectErrors(t, ValidateSecretUpdate(s, tc.old), tc.want)
		})
	}
}

func TestValidateServiceAccount(t *testing.T) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder", Namespace: "default"}}
	expectErrors(t, ValidateServiceAccount(sa), none())
	bad := sa.DeepCopy()
	bad.Name = "Builder"
	expectErrors(t, ValidateServiceAccount(bad), errs(inv("metadata.name", "")))

	sa.ResourceVersion = "1"
	updated := sa.DeepCopy()
	updated.Secrets = []corev1.ObjectReference{{Name: "tok"}}
	expectErrors(t, ValidateServiceAccountUpdate(updated, sa), none())
	updated.Namespace = "other"
	expectErrors(t, ValidateServiceAccountUpdate(updated, sa), errs(inv("metadata.namespace", "field is immutable")))
}
