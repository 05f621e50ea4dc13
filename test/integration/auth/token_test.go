package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/berth/berth/test/integration/framework"
)

func waitForDefaultAccount(t *testing.T, c *framework.Cluster, ns string) {
	t.Helper()
	framework.Eventually(t, 30*time.Second, "default ServiceAccount in "+ns, func() bool {
		_, err := c.Client.CoreV1().ServiceAccounts(ns).Get(context.Background(), "default", metav1.GetOptions{})
		return err == nil
	})
}

// TestServiceAccountTokens: kubectl create token issues tokens (TokenRequest) that
// authenticate as the service account — with the built-in policy's rights of an
// authenticated user — until the account or the object they are bound to is gone.
func TestServiceAccountTokens(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{})
	ctx := context.Background()
	waitForDefaultAccount(t, c, "default")
	sa, err := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	token := c.MustKubectl(t, "create", "token", "default")
	claims := framework.JWTClaims(t, token)
	k8s, _ := json.Marshal(claims["kubernetes.io"])
	if claims["iss"] != "https://kubernetes.default.svc.cluster.local" || claims["sub"] != "system:serviceaccount:default:default" ||
		string(k8s) != fmt.Sprintf(`{"namespace":"default","serviceaccount":{"name":"default","uid":"%s"}}`, sa.UID) {
		t.Errorf("claims %v", claims)
	}
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 3600 {
		t.Errorf("a token lasts %v s by default, want 3600", exp-iat)
	}
	if claims := framework.JWTClaims(t, c.MustKubectl(t, "create", "token", "default", "--duration=2h", "--audience=x")); claims["exp"].(float64)-claims["iat"].(float64) != 7200 ||
		fmt.Sprint(claims["aud"]) != "[x]" {
		t.Errorf("--duration=2h --audience=x gave %v", claims)
	}

	for _, tt := range []struct {
		name, stderr string
		args         []string
	}{
		{"a missing account", "error: failed to create token: serviceaccounts \"nope\" not found\n", []string{"create", "token", "nope"}},
		{"too short", "error: failed to create token: TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes\n",
			[]string{"create", "token", "default", "--duration=1m"}},
		{"a pod that does not exist", "error: failed to create token: pods \"ghost\" not found\n",
			[]string{"create", "token", "default", "--bound-object-kind=Pod", "--bound-object-name=ghost"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := c.Kubectl(t, tt.args...)
			if r.Err == nil || r.Stderr != tt.stderr {
				t.Errorf("kubectl %v: err %v\nstderr %q\nwant   %q", tt.args, r.Err, r.Stderr, tt.stderr)
			}
		})
	}

	t.Run("the token speaks for the account", func(t *testing.T) {
		kc := c.TokenKubeconfig(t, token)
		stdout, stderr, exit := kubectlAs(t, c, kc, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.uid} {.status.userInfo.groups}")
		want := fmt.Sprintf(`system:serviceaccount:default:default %s ["system:serviceaccounts","system:serviceaccounts:default","system:authenticated"]`, sa.UID)
		if exit != 0 || stdout != want {
			t.Errorf("whoami: %q %q exit %d\nwant %q", stdout, stderr, exit, want)
		}
		_, stderr, exit = kubectlAs(t, c, kc, "get", "pods")
		if want := `Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:default:default" cannot list resource "pods" in API group "" in the namespace "default"` + "\n"; exit != 1 || stderr != want {
			t.Errorf("get pods: exit %d %q\nwant %q", exit, stderr, want)
		}
		if stdout, _, exit := kubectlAs(t, c, kc, "get", "--raw", "/version"); exit != 0 || !strings.Contains(stdout, "gitVersion") {
			t.Errorf("version: exit %d %q", exit, stdout)
		}
	})

	t.Run("a token for another audience is refused", func(t *testing.T) {
		other := c.MustKubectl(t, "create", "token", "default", "--audience=x")
		_, err := clientWith(t, c, strings.TrimSpace(other), nil, nil).Discovery().ServerVersion()
		if !apierrors.IsUnauthorized(err) {
			t.Errorf("want 401, got %v", err)
		}
	})

	t.Run("a pod-bound token ends with its pod", func(t *testing.T) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bound"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
		pod, err := c.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r := c.Kubectl(t, "create", "token", "default", "--bound-object-kind=Pod", "--bound-object-name=bound", "--bound-object-uid=0000")
		if want := `error: failed to create token: Operation cannot be fulfilled on Pod "bound": the UID in the bound object reference (0000) does not match the UID in record. The object might have been deleted and then recreated` + "\n"; r.Stderr != want {
			t.Errorf("wrong uid: %q\nwant %q", r.Stderr, want)
		}
		bound := strings.TrimSpace(c.MustKubectl(t, "create", "token", "default", "--bound-object-kind=Pod", "--bound-object-name=bound", "--bound-object-uid="+string(pod.UID)))
		pc, _ := json.Marshal(framework.JWTClaims(t, bound)["kubernetes.io"].(map[string]any)["pod"])
		if string(pc) != fmt.Sprintf(`{"name":"bound","uid":"%s"}`, pod.UID) {
			t.Errorf("pod claim %s", pc)
		}
		review, err := clientWith(t, c, bound, nil, nil).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := review.Status.UserInfo.Extra["authentication.kubernetes.io/pod-uid"]; len(got) != 1 || got[0] != string(pod.UID) {
			t.Errorf("extra %v", review.Status.UserInfo.Extra)
		}
		if err := c.Client.CoreV1().Pods("default").Delete(ctx, "bound", *metav1.NewDeleteOptions(0)); err != nil {
			t.Fatal(err)
		}
		framework.Eventually(t, 30*time.Second, "the pod gone", func() bool {
			_, err := c.Client.CoreV1().Pods("default").Get(ctx, "bound", metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
		// Verified tokens are believed for 10 s (as kube-apiserver's token cache).
		framework.Eventually(t, 30*time.Second, "401 for the token of the deleted pod", func() bool {
			_, err := clientWith(t, c, bound, nil, nil).Discovery().ServerVersion()
			return apierrors.IsUnauthorized(err)
		})
	})

	t.Run("issuer discovery", func(t *testing.T) {
		sa := clientWith(t, c, strings.TrimSpace(token), nil, nil)
		config, err := sa.Discovery().RESTClient().Get().AbsPath("/.well-known/openid-configuration").DoRaw(ctx)
		if err != nil || !strings.Contains(string(config), `"jwks_uri":"https://kubernetes.default.svc.cluster.local/openid/v1/jwks"`) {
			t.Errorf("openid-configuration: %s %v", config, err)
		}
		raw, err := sa.Discovery().RESTClient().Get().AbsPath("/openid/v1/jwks").DoRaw(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var set struct{ Keys []struct{ Kid, X, Y string } }
		if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) != 1 {
			t.Fatalf("jwks %s: %v", raw, err)
		}
		// The JWKS verifies the token, as an outside verifier would.
		x, _ := base64.RawURLEncoding.DecodeString(set.Keys[0].X)
		y, _ := base64.RawURLEncoding.DecodeString(set.Keys[0].Y)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(strings.TrimSpace(token), ".")
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if len(sig) != 64 || !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			t.Error("the JWKS key does not verify the token")
		}
		// Not for other users (here: the node token).
		bootstrap := clientWith(t, c, strings.TrimSpace(readFile(t, filepath.Join(c.DataDir, "node-token"))), nil, nil)
		if _, err := bootstrap.Discovery().RESTClient().Get().AbsPath("/openid/v1/jwks").DoRaw(ctx); !apierrors.IsForbidden(err) {
			t.Errorf("the node token reading the JWKS: want 403, got %v", err)
		}
	})

	t.Run("TokenReview is for admins", func(t *testing.T) {
		tr, err := c.Client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: strings.TrimSpace(token)}}, metav1.CreateOptions{})
		if err != nil || !tr.Status.Authenticated || tr.Status.User.Username != "system:serviceaccount:default:default" {
			t.Errorf("review %+v, %v", tr, err)
		}
		tr, err = c.Client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: "nope"}}, metav1.CreateOptions{})
		if err != nil || tr.Status.Authenticated {
			t.Errorf("a bad token: %+v, %v", tr, err)
		}
		_, err = clientWith(t, c, strings.TrimSpace(token), nil, nil).AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: "x"}}, metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("a service account reviewing tokens: want 403, got %v", err)
		}
	})

	t.Run("deleting the account ends its tokens", func(t *testing.T) {
		if _, err := c.Client.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		robot := strings.TrimSpace(c.MustKubectl(t, "create", "token", "robot"))
		client := clientWith(t, c, robot, nil, nil)
		if _, err := client.Discovery().ServerVersion(); err != nil {
			t.Fatal(err)
		}
		if err := c.Client.CoreV1().ServiceAccounts("default").Delete(ctx, "robot", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		framework.Eventually(t, 30*time.Second, "401 for the token of the deleted account", func() bool {
			_, err := client.Discovery().ServerVersion()
			return apierrors.IsUnauthorized(err)
		})
	})

	t.Run("tokens outlive a restart", func(t *testing.T) {
		c.Stop(t)
		again := framework.StartCluster(t, framework.Options{DataDir: c.DataDir})
		if _, err := clientWith(t, again, strings.TrimSpace(token), nil, nil).Discovery().ServerVersion(); err != nil {
			t.Errorf("after a restart: %v", err)
		}
	})
}

// TestNodeTokenRequests: a node's credential may ask only for tokens bound to pods on its
// node, as Kubernetes' node authorizer and NodeRestriction allow.
func TestNodeTokenRequests(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{APIOnly: true})
	ctx := context.Background()
	if _, err := c.Client.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var pods []*corev1.Pod
	for _, n := range []string{"n1", "n2"} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "on-" + n}, Spec: corev1.PodSpec{NodeName: n, Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
		pod, err := c.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pods = append(pods, pod)
	}
	n1 := joinNode(t, c, "n1")
	bootstrap := clientWith(t, c, strings.TrimSpace(readFile(t, filepath.Join(c.DataDir, "node-token"))), nil, nil)
	boundTo := func(p *corev1.Pod, uid bool) *authenticationv1.TokenRequest {
		ref := &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: p.Name}
		if uid {
			ref.UID = p.UID
		}
		return &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: ref}}
	}
	for _, tt := range []struct {
		name   string
		client kubernetes.Interface
		req    *authenticationv1.TokenRequest
		err    string
	}{
		{"its own pod", n1, boundTo(pods[0], true), ""},
		{"another node's pod", n1, boundTo(pods[1], true), `serviceaccounts "default" is forbidden: node requested token bound to a pod scheduled on a different node`},
		{"no binding", n1, &authenticationv1.TokenRequest{}, `serviceaccounts "default" is forbidden: node requested token not bound to a pod`},
		{"a binding without uid", n1, boundTo(pods[0], false), `serviceaccounts "default" is forbidden: node requested token with a pod binding without a uid`},
		{"the shared bootstrap credential", bootstrap, boundTo(pods[0], true),
			`serviceaccounts "default" is forbidden: User "system:node-bootstrap" cannot create resource "serviceaccounts/token" in API group "" in the namespace "default"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.client.CoreV1().ServiceAccounts("default").CreateToken(ctx, "default", tt.req, metav1.CreateOptions{})
			switch {
			case tt.err == "" && err != nil:
				t.Fatal(err)
			case tt.err == "":
				if pc, _ := json.Marshal(framework.JWTClaims(t, out.Status.Token)["kubernetes.io"].(map[string]any)["pod"]); !strings.Contains(string(pc), string(pods[0].UID)) {
					t.Errorf("pod claim %s", pc)
				}
			case err == nil || err.Error() != tt.err:
				t.Errorf("err %v\nwant %s", err, tt.err)
			}
		})
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

// TestTokenRequestBodies: what kube-apiserver answers to TokenRequest bodies, good and
// bad — every refusal a Status with its 4xx code and Kubernetes' text.
func TestTokenRequestBodies(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{APIOnly: true})
	ctx := context.Background()
	sa, err := c.Client.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const path = "/api/v1/namespaces/default/serviceaccounts/default/token"
	for _, tt := range []struct {
		name, body string
		code       int
		// message is the Status's message; for a 201, a part of the TokenRequest's JSON.
		message string
	}{
		{"too short", `{"spec":{"expirationSeconds":60}}`, http.StatusUnprocessableEntity,
			`TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes`},
		{"negative", `{"spec":{"expirationSeconds":-5}}`, http.StatusUnprocessableEntity,
			`TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: -5: may not specify a duration less than 10 minutes`},
		{"beyond 2^32 s", `{"spec":{"expirationSeconds":4294967297}}`, http.StatusUnprocessableEntity,
			`TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 4294967297: may not specify a duration larger than 2^32 seconds`},
		{"2^32 s", `{"spec":{"expirationSeconds":4294967296}}`, http.StatusCreated, `"expirationSeconds":4294967296`},
		{"the answer names the account by its UID", `{}`, http.StatusCreated, `"metadata":{"name":"default","namespace":"default","uid":"$UID"`},
		{"the account's UID", `{"metadata":{"uid":"$UID"}}`, http.StatusCreated, `"uid":"$UID"`},
		{"another UID", `{"metadata":{"uid":"abc"}}`, http.StatusConflict,
			`Operation cannot be fulfilled on TokenRequest.authentication.k8s.io "default": the UID in the token request (abc) does not match the UID of the service account ($UID)`},
		{"another name", `{"metadata":{"name":"other"}}`, http.StatusUnprocessableEntity,
			`TokenRequest.authentication.k8s.io "default" is invalid: metadata.name: Invalid value: "other": must match the service account name if specified`},
		{"its namespace", `{"metadata":{"namespace":"default"}}`, http.StatusCreated, `"namespace":"default"`},
		{"another namespace", `{"metadata":{"namespace":"other"}}`, http.StatusBadRequest,
			"the namespace of the provided object does not match the namespace sent on the request"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			uid := strings.NewReplacer("$UID", string(sa.UID))
			tt.body, tt.message = uid.Replace(tt.body), uid.Replace(tt.message)
			body := `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest"` + strings.TrimPrefix(tt.body, "{")
			if tt.body != "{}" {
				body = strings.Replace(body, `"TokenRequest"`, `"TokenRequest",`, 1)
			}
			var code int
			raw, err := c.Client.CoreV1().RESTClient().Post().AbsPath(path).SetHeader("Content-Type", "application/json").
				Body([]byte(body)).Do(ctx).StatusCode(&code).Raw()
			if code != tt.code {
				t.Fatalf("code %d, want %d: %s %v", code, tt.code, raw, err)
			}
			if code == http.StatusCreated {
				if !strings.Contains(string(raw), tt.message) {
					t.Errorf("%s\nwant it to contain %s", raw, tt.message)
				}
				return
			}
			var status metav1.Status
			if err := json.Unmarshal(raw, &status); err != nil || status.Kind != "Status" || status.Message != tt.message {
				t.Errorf("%s (%v)\nwant message %q", raw, err, tt.message)
			}
		})
	}

	t.Run("a pod on a node that is gone", func(t *testing.T) {
		// The token names the pod's node by name alone, as kube-apiserver's does.
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "orphan"}, Spec: corev1.PodSpec{NodeName: "gone", Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
		pod, err := c.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tr, err := c.Client.CoreV1().ServiceAccounts("default").CreateToken(ctx, "default", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			BoundObjectRef: &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: "orphan", UID: pod.UID},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		k8s, _ := json.Marshal(framework.JWTClaims(t, tr.Status.Token)["kubernetes.io"])
		if want := fmt.Sprintf(`{"namespace":"default","node":{"name":"gone"},"pod":{"name":"orphan","uid":"%s"},"serviceaccount":{"name":"default","uid":"%s"}}`, pod.UID, sa.UID); string(k8s) != want {
			t.Errorf("claims %s\nwant   %s", k8s, want)
		}
		review, err := clientWith(t, c, tr.Status.Token, nil, nil).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		extra := review.Status.UserInfo.Extra
		if got := extra["authentication.kubernetes.io/node-name"]; len(got) != 1 || got[0] != "gone" {
			t.Errorf("extra %v", extra)
		}
		if _, ok := extra["authentication.kubernetes.io/node-uid"]; ok {
			t.Errorf("extra %v: no node-uid for a node without one", extra)
		}
	})
}

// TestTokenReview: TokenReview as kube-apiserver's — for the audiences the review names
// (a service for its own audience verifies the tokens its clients were given), status
// audiences only when the review names some, and an empty token a 400.
func TestTokenReview(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{APIOnly: true})
	ctx := context.Background()
	if _, err := c.Client.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const api = "https://kubernetes.default.svc.cluster.local"
	token := func(auds ...string) string {
		tr, err := c.Client.CoreV1().ServiceAccounts("default").CreateToken(ctx, "default", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: auds}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	nodeToken := strings.TrimSpace(readFile(t, filepath.Join(c.DataDir, "node-token")))
	for _, tt := range []struct {
		name          string
		token         string
		audiences     []string
		authenticated bool
		want          []string // status.audiences
	}{
		{"the API's token", token(), nil, true, nil},
		{"the API's token for the API", token(), []string{api}, true, []string{api}},
		{"the API's token for vault", token(), []string{"vault"}, false, nil},
		{"vault's token", token("vault"), nil, false, nil},
		{"vault's token for vault", token("vault"), []string{"vault"}, true, []string{"vault"}},
		{"a token of two audiences for one", token("vault", "other"), []string{"x", "other"}, true, []string{"other"}},
		{"the node token for the API", nodeToken, []string{api}, true, []string{api}},
		{"the node token for vault", nodeToken, []string{"vault"}, false, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			review, err := c.Client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: tt.token, Audiences: tt.audiences}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			st := review.Status
			if st.Authenticated != tt.authenticated || fmt.Sprint(st.Audiences) != fmt.Sprint(tt.want) {
				t.Errorf("status %+v\nwant authenticated %v, audiences %v", st, tt.authenticated, tt.want)
			}
			if st.Authenticated && (st.User.Username == "" || st.Error != "") || !st.Authenticated && (st.User.Username != "" || st.Error == "") {
				t.Errorf("status %+v", st)
			}
		})
	}

	t.Run("no token", func(t *testing.T) {
		_, err := c.Client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{}, metav1.CreateOptions{})
		if !apierrors.IsBadRequest(err) || err.Error() != "token is required for TokenReview in authentication" {
			t.Errorf("want a 400, got %v", err)
		}
	})
}

// TestSelfSubjectReviewIsNew: the answer is a new object, as kube-apiserver's — nothing of
// the request's metadata comes back, only the creation time.
func TestSelfSubjectReviewIsNew(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{APIOnly: true})
	review, err := c.Client.AuthenticationV1().SelfSubjectReviews().Create(context.Background(), &authenticationv1.SelfSubjectReview{
		ObjectMeta: metav1.ObjectMeta{Name: "me", Labels: map[string]string{"a": "b"}, Annotations: map[string]string{"c": "d"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := review.ObjectMeta
	if m.Name != "" || m.Labels != nil || m.Annotations != nil || m.CreationTimestamp.IsZero() || review.Status.UserInfo.Username == "" {
		t.Errorf("review %+v", review)
	}
}
