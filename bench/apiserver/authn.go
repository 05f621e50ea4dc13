package apiserver

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/berth/berth/bench/report"
)

// authnFigures times GET /version with the admin's client certificate and with a
// pod-style service-account token (verified: an ES256 signature and the account read
// from storage on every request), alternating calls so both see the same load, and
// reports the token's p50 beside the certificate's.
func authnFigures(ctx context.Context, s *server, admin kubernetes.Interface, n int) ([]report.Figure, error) {
	var tr *authenticationv1.TokenRequest
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		tr, err = admin.CoreV1().ServiceAccounts("default").CreateToken(ctx, "default", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("token for default/default: %w", err)
		}
		select { // the serviceaccount controller creates the account just after start
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	cfg := &rest.Config{
		Host: "https://" + s.addr, BearerToken: tr.Status.Token, QPS: -1, UserAgent: "berth-bench",
		TLSClientConfig: rest.TLSClientConfig{CAFile: filepath.Join(s.dataDir, "tls", "ca.crt")},
	}
	tokenClient, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	clients := []kubernetes.Interface{admin, tokenClient}
	lat, err := runLoad(ctx, 1, 2*n, func(ctx context.Context, _, i int) error {
		_, err := clients[i%2].Discovery().ServerVersion()
		return err
	})
	if err != nil {
		return nil, err
	}
	var cert, token []time.Duration
	for i, d := range lat {
		if i%2 == 0 {
			cert = append(cert, d)
		} else {
			token = append(token, d)
		}
	}
	c50, t50 := report.Percentile(cert, 50), report.Percentile(token, 50)
	f := report.Plain("GET /version p50, service-account token", report.Millis(t50), "ms")
	f.Note = fmt.Sprintf("client certificate %.3f ms in the same run: %.2f×; %d calls each", report.Millis(c50), float64(t50)/float64(c50), n)
	return []report.Figure{report.Plain("GET /version p50, client certificate", report.Millis(c50), "ms"), f}, nil
}
