package serviceaccount

import (
	"context"
	"io"
	"log/slog"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/berth/berth/internal/controller"
)

const testCA = "-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n"

func fakeSign(sa *corev1.ServiceAccount, secret *corev1.Secret) (string, error) {
	return "token-of-" + sa.Namespace + "/" + sa.Name + "/" + string(sa.UID) + "/" + secret.Name, nil
}

func tokenSecret(name, account, uid string, data map[string][]byte) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: name, UID: types.UID("secret-" + name),
			Annotations: map[string]string{corev1.ServiceAccountNameKey: account}},
		Type: corev1.SecretTypeServiceAccountToken,
		Data: data,
	}
	if uid != "" {
		s.Annotations[corev1.ServiceAccountUIDKey] = uid
	}
	return s
}

func filledData(name, uid string) map[string][]byte {
	return map[string][]byte{
		corev1.ServiceAccountTokenKey:     []byte("token-of-ns1/robot/" + uid + "/" + name),
		corev1.ServiceAccountRootCAKey:    []byte(testCA),
		corev1.ServiceAccountNamespaceKey: []byte("ns1"),
	}
}

// TestTokensSync syncs one Secret against cached and stored accounts and checks what
// became of it.
func TestTokensSync(t *testing.T) {
	robot := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "robot", UID: "sa-uid"}}
	cases := []struct {
		name     string
		secret   *corev1.Secret
		cached   bool // the account is in the informer's cache (else only stored)
		stored   *corev1.ServiceAccount
		deleted  bool
		wantData map[string][]byte // nil: unchanged
		writes   int
	}{
		{name: "unfilled secret is filled", secret: tokenSecret("s", "robot", "", nil), cached: true, stored: robot,
			wantData: filledData("s", "sa-uid"), writes: 1},
		{name: "account not cached yet is read", secret: tokenSecret("s", "robot", "", nil), stored: robot,
			wantData: filledData("s", "sa-uid"), writes: 1},
		{name: "filled secret is left alone", secret: tokenSecret("s", "robot", "sa-uid", filledData("s", "sa-uid")), cached: true, stored: robot},
		{name: "a token given keeps, the rest is added",
			secret: tokenSecret("s", "robot", "", map[string][]byte{corev1.ServiceAccountTokenKey: []byte("mine")}), cached: true, stored: robot,
			wantData: map[string][]byte{corev1.ServiceAccountTokenKey: []byte("mine"), corev1.ServiceAccountRootCAKey: []byte(testCA),
				corev1.ServiceAccountNamespaceKey: []byte("ns1")}, writes: 1},
		{name: "missing account deletes", secret: tokenSecret("s", "robot", "", nil), deleted: true, writes: 1},
		{name: "account of another UID deletes", secret: tokenSecret("s", "robot", "old-uid", filledData("s", "old-uid")),
			cached: true, stored: robot, deleted: true, writes: 1},
		{name: "no account named deletes", secret: tokenSecret("s", "", "", nil), deleted: true, writes: 1},
		{name: "another type is ignored", secret: func() *corev1.Secret {
			s := tokenSecret("s", "nobody", "", nil)
			s.Type = corev1.SecretTypeOpaque
			return s
		}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := []runtime.Object{tc.secret}
			if tc.stored != nil {
				objs = append(objs, tc.stored)
			}
			client := fake.NewClientset(objs...)
			cc := &controller.Context{Client: client, Informers: informers.NewSharedInformerFactory(client, 0),
				Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
				Options: controller.Options{RootCAPEM: []byte(testCA), LegacyTokenSigner: fakeSign}}
			r, err := NewTokens(cc)
			if err != nil {
				t.Fatal(err)
			}
			c := r.(*TokensController)
			if tc.cached {
				if err := cc.Informers.Core().V1().ServiceAccounts().Informer().GetStore().Add(tc.stored); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.secrets.GetStore().Add(tc.secret); err != nil {
				t.Fatal(err)
			}
			client.ClearActions()
			if err := c.sync(context.Background(), "ns1/s"); err != nil {
				t.Fatal(err)
			}
			writes := 0
			for _, a := range client.Actions() {
				if a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
					writes++
				}
			}
			if writes != tc.writes {
				t.Errorf("writes = %d, want %d: %v", writes, tc.writes, client.Actions())
			}
			got, err := client.CoreV1().Secrets("ns1").Get(context.Background(), "s", metav1.GetOptions{})
			if tc.deleted {
				if !apierrors.IsNotFound(err) {
					t.Fatalf("secret not deleted: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tc.wantData
			if want == nil {
				want = tc.secret.Data
			}
			if len(got.Data) != len(want) {
				t.Errorf("data = %q, want %q", got.Data, want)
			}
			for k, v := range want {
				if string(got.Data[k]) != string(v) {
					t.Errorf("data[%s] = %q, want %q", k, got.Data[k], v)
				}
			}
			if tc.wantData != nil && got.Annotations[corev1.ServiceAccountUIDKey] != string(robot.UID) {
				t.Errorf("uid annotation = %q", got.Annotations[corev1.ServiceAccountUIDKey])
			}
			// A second sync of the result changes nothing: idempotent.
			if err := c.secrets.GetStore().Update(got); err != nil {
				t.Fatal(err)
			}
			client.ClearActions()
			if err := c.sync(context.Background(), "ns1/s"); err != nil {
				t.Fatal(err)
			}
			for _, a := range client.Actions() {
				if v := a.GetVerb(); v == "update" || v == "delete" {
					t.Errorf("second sync wrote: %v", a)
				}
			}
		})
	}
}

func TestTokensDisabled(t *testing.T) {
	client := fake.NewClientset()
	r, err := NewTokens(&controller.Context{Client: client, Informers: informers.NewSharedInformerFactory(client, 0),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}
