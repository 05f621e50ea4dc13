// Command kubeclient is berth's in-cluster client test program: an unmodified client-go
// program that does what a controller in a pod does first. It loads rest.InClusterConfig
// (KUBERNETES_SERVICE_HOST/PORT from the environment, the service-account token and CA
// from /var/run/secrets/kubernetes.io/serviceaccount), asks the server its version,
// asks who it is (authentication.k8s.io/v1 SelfSubjectReview, as `kubectl auth whoami`)
// and tries to list the pods of its namespace.
//
// It prints one JSON object per step on stdout:
//
//	{"step":"config","host":"https://10.43.0.1:443","namespace":"default"}
//	{"step":"version","gitVersion":"v1.37.2+berth"}
//	{"step":"whoami","username":"system:serviceaccount:default:default","groups":[...],"extra":{...}}
//	{"step":"list-pods","error":"pods is forbidden: ...","code":403}
//
// A step that fails prints its error (and the HTTP code of an API error) and the next step
// still runs; without a config there is nothing to run, so that failure ends the program.
// It exits 0 when config, version and whoami worked, else 1: listing pods is expected to
// be forbidden under the built-in policy and does not decide the exit code.
//
// It links only the client-go parts it uses — discovery and the typed clients core/v1 and
// authentication/v1 — rather than the whole k8s.io/client-go/kubernetes clientset: 26.5 MB
// instead of 27.4 MB stripped, and fewer packages to compile on a cold build cache. (Most of
// the size is kubernetes/scheme, which the typed clients import and which registers every
// API group.)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	authenticationclient "k8s.io/client-go/kubernetes/typed/authentication/v1"
	coreclient "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
)

// namespaceFile is where the kube-api-access volume puts the pod's namespace.
const namespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// result is one line of output; fields a step does not set are left out.
type result struct {
	Step       string              `json:"step"`
	Host       string              `json:"host,omitempty"`
	Namespace  string              `json:"namespace,omitempty"`
	GitVersion string              `json:"gitVersion,omitempty"`
	Username   string              `json:"username,omitempty"`
	UID        string              `json:"uid,omitempty"`
	Groups     []string            `json:"groups,omitempty"`
	Extra      map[string][]string `json:"extra,omitempty"`
	Pods       *int                `json:"pods,omitempty"`
	Error      string              `json:"error,omitempty"`
	// Code is the HTTP status of an API error (403 for Forbidden).
	Code int32 `json:"code,omitempty"`
}

func main() {
	timeout := flag.Duration("timeout", 30*time.Second, "deadline for all steps together")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	out := json.NewEncoder(os.Stdout)
	if !run(ctx, func(r result) { _ = out.Encode(r) }) {
		cancel()
		os.Exit(1)
	}
}

// run performs the steps, reporting each through emit, and says whether config, version
// and whoami all worked.
func run(ctx context.Context, emit func(result)) bool {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		emit(failed("config", err))
		return false
	}
	namespace := "default"
	if raw, err := os.ReadFile(namespaceFile); err == nil && len(strings.TrimSpace(string(raw))) > 0 {
		namespace = strings.TrimSpace(string(raw))
	}
	client, err := newClients(cfg)
	if err != nil {
		emit(failed("config", err))
		return false
	}
	emit(result{Step: "config", Host: cfg.Host, Namespace: namespace})

	versionResult := version(ctx, client)
	emit(versionResult)
	whoamiResult := whoami(ctx, client)
	emit(whoamiResult)
	emit(listPods(ctx, client, namespace))
	return versionResult.Error == "" && whoamiResult.Error == ""
}

// clients are the three client-go clients the steps use, made from one config.
type clients struct {
	discovery      *discovery.DiscoveryClient
	authentication *authenticationclient.AuthenticationV1Client
	core           *coreclient.CoreV1Client
}

func newClients(cfg *rest.Config) (*clients, error) {
	var c clients
	var err error
	if c.discovery, err = discovery.NewDiscoveryClientForConfig(cfg); err != nil {
		return nil, err
	}
	if c.authentication, err = authenticationclient.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if c.core, err = coreclient.NewForConfig(cfg); err != nil {
		return nil, err
	}
	return &c, nil
}

func version(ctx context.Context, client *clients) result {
	info, err := client.discovery.ServerVersionWithContext(ctx)
	if err != nil {
		return failed("version", err)
	}
	return result{Step: "version", GitVersion: info.GitVersion}
}

func whoami(ctx context.Context, client *clients) result {
	review, err := client.authentication.SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return failed("whoami", err)
	}
	u := review.Status.UserInfo
	extra := map[string][]string{}
	for k, v := range u.Extra {
		extra[k] = v
	}
	return result{Step: "whoami", Username: u.Username, UID: u.UID, Groups: u.Groups, Extra: extra}
}

func listPods(ctx context.Context, client *clients, namespace string) result {
	pods, err := client.core.Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return failed("list-pods", err)
	}
	n := len(pods.Items)
	return result{Step: "list-pods", Namespace: namespace, Pods: &n}
}

func failed(step string, err error) result {
	r := result{Step: step, Error: err.Error()}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		r.Code = status.Status().Code
	}
	return r
}
