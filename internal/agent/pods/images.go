package pods

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Waiting reasons of image problems, as the kubelet reports them.
const (
	reasonErrImagePull      = "ErrImagePull"
	reasonImagePullBackOff  = "ImagePullBackOff"
	reasonErrImageNeverPull = "ErrImageNeverPull"
	reasonInvalidImageName  = "InvalidImageName"
)

// pulledImage is an image ready for a container.
type pulledImage struct {
	ref      string // what CreateContainer gets (the runtime's image ID)
	uid      *int64 // the image's numeric user, if any
	username string // the image's non-numeric user, if any
}

// waitingError is a failed container start with the waiting reason it shows.
type waitingError struct {
	reason, message string
}

func (e *waitingError) Error() string { return e.reason + ": " + e.message }

// ensureImage makes the container's image present according to its pull policy, with
// the kubelet's events and back-off.
func (l *Loop) ensureImage(ctx context.Context, pod *corev1.Pod, c *corev1.Container, sandbox *runtimeapi.PodSandboxConfig) (pulledImage, error) {
	image := c.Image
	if _, err := reference.ParseNormalizedNamed(image); err != nil {
		msg := fmt.Sprintf("Failed to apply default image tag %q: couldn't parse image name %q: %v", image, image, err)
		l.event(pod, corev1.EventTypeWarning, "InspectFailed", msg)
		return pulledImage{}, &waitingError{reasonInvalidImageName, msg}
	}
	present, err := l.runtime.ImageStatus(ctx, image)
	if err != nil {
		return pulledImage{}, err
	}
	policy := c.ImagePullPolicy
	if policy == "" {
		policy = corev1.PullIfNotPresent
		if !strings.Contains(lastPart(image), ":") || strings.HasSuffix(image, ":latest") {
			policy = corev1.PullAlways
		}
	}
	if policy == corev1.PullNever || (policy == corev1.PullIfNotPresent && present != nil) {
		if present == nil {
			msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", image)
			l.event(pod, corev1.EventTypeWarning, reasonErrImageNeverPull, msg)
			return pulledImage{}, &waitingError{reasonErrImageNeverPull, msg}
		}
		l.event(pod, corev1.EventTypeNormal, "Pulled", fmt.Sprintf("Container image %q already present on machine", image))
		return imageOf(present), nil
	}
	key := string(pod.UID) + "/" + image
	if l.pullGate.wait(key) > 0 {
		msg := fmt.Sprintf("Back-off pulling image %q", image)
		l.event(pod, corev1.EventTypeNormal, "BackOff", msg)
		if last := l.pullGate.lastError(key); last != "" {
			msg += ": " + last
		}
		return pulledImage{}, &waitingError{reasonImagePullBackOff, msg}
	}
	l.event(pod, corev1.EventTypeNormal, "Pulling", fmt.Sprintf("Pulling image %q", image))
	start := time.Now()
	ref, err := l.pull(ctx, pod, image, sandbox)
	if err != nil {
		msg := fmt.Sprintf("Failed to pull image %q: %v", image, createErrorMessage(err))
		l.pullGate.failWith(key, reasonErrImagePull+": "+createErrorMessage(err))
		l.event(pod, corev1.EventTypeWarning, "Failed", msg)
		l.event(pod, corev1.EventTypeWarning, "Failed", "Error: "+reasonErrImagePull)
		return pulledImage{}, &waitingError{reasonErrImagePull, msg}
	}
	l.pullGate.forget(key)
	pulled, err := l.runtime.ImageStatus(ctx, ref)
	if err != nil || pulled == nil {
		return pulledImage{}, fmt.Errorf("image %s pulled but not found: %v", image, err)
	}
	took := time.Since(start).Round(time.Millisecond)
	l.event(pod, corev1.EventTypeNormal, "Pulled", fmt.Sprintf("Successfully pulled image %q in %v (%v including waiting). Image size: %d bytes.", image, took, took, pulled.Size))
	return imageOf(pulled), nil
}

func lastPart(image string) string {
	if i := strings.LastIndex(image, "/"); i >= 0 {
		return image[i+1:]
	}
	return image
}

func imageOf(img *runtimeapi.Image) pulledImage {
	p := pulledImage{ref: img.Id, username: img.Username}
	if img.Uid != nil {
		uid := img.Uid.Value
		p.uid = &uid
	}
	return p
}

// pull tries the pod's pull secrets that match the image's registry in order, then an
// anonymous pull, as the kubelet does.
func (l *Loop) pull(ctx context.Context, pod *corev1.Pod, image string, sandbox *runtimeapi.PodSandboxConfig) (string, error) {
	auths, err := l.pullAuths(ctx, pod, image)
	if err != nil {
		return "", err
	}
	var lastErr error
	for _, auth := range append(auths, nil) {
		ref, err := l.runtime.PullImage(ctx, image, auth, sandbox)
		if err == nil {
			return ref, nil
		}
		lastErr = err
	}
	return "", lastErr
}

// pullAuths are the credentials in the pod's imagePullSecrets for the image's registry.
func (l *Loop) pullAuths(ctx context.Context, pod *corev1.Pod, image string) ([]*runtimeapi.AuthConfig, error) {
	if len(pod.Spec.ImagePullSecrets) == 0 {
		return nil, nil
	}
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return nil, err
	}
	registry := normalizeRegistry(reference.Domain(named))
	var out []*runtimeapi.AuthConfig
	for _, ref := range pod.Spec.ImagePullSecrets {
		secret, err := l.cfg.Client.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			l.log.Debug("image pull secret", "pod", pod.Namespace+"/"+pod.Name, "secret", ref.Name, "err", err)
			continue // the kubelet warns and goes on without it
		}
		out = append(out, authsFor(secret, registry)...)
	}
	return out, nil
}

// dockerAuth is one registry entry of a docker config.
type dockerAuth struct {
	Username      string `json:"username"`
	Password      string `json:"password"`
	Auth          string `json:"auth"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// authsFor reads a kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg secret and
// returns its entries for registry.
func authsFor(secret *corev1.Secret, registry string) []*runtimeapi.AuthConfig {
	var entries map[string]dockerAuth
	switch secret.Type {
	case corev1.SecretTypeDockerConfigJson:
		var cfg struct {
			Auths map[string]dockerAuth `json:"auths"`
		}
		if json.Unmarshal(secret.Data[corev1.DockerConfigJsonKey], &cfg) != nil {
			return nil
		}
		entries = cfg.Auths
	case corev1.SecretTypeDockercfg:
		if json.Unmarshal(secret.Data[corev1.DockerConfigKey], &entries) != nil {
			return nil
		}
	default:
		return nil
	}
	var out []*runtimeapi.AuthConfig
	for key, a := range entries {
		if normalizeRegistry(key) != registry {
			continue
		}
		// No ServerAddress: the entry already matched the image's registry, and
		// containerd 1.6 parses it as a URL, so "host:port" would never match.
		auth := &runtimeapi.AuthConfig{
			Username: a.Username, Password: a.Password,
			IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken,
		}
		if a.Auth != "" && auth.Username == "" {
			if raw, err := base64.StdEncoding.DecodeString(a.Auth); err == nil {
				auth.Username, auth.Password, _ = strings.Cut(string(raw), ":")
			}
		}
		out = append(out, auth)
	}
	return out
}

// normalizeRegistry turns a docker config key ("https://index.docker.io/v1/",
// "localhost:5000", "http://r.example/path") into the registry host an image names.
func normalizeRegistry(s string) string {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	switch s {
	case "index.docker.io", "registry-1.docker.io":
		return "docker.io"
	}
	return s
}
