package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

const (
	// DefaultServiceAccountName is the account of a pod that names none.
	DefaultServiceAccountName = "default"
	// ServiceAccountTokenMountPath is where containers find the token, the cluster CA and
	// their namespace (client-go's rest.InClusterConfig reads them there).
	ServiceAccountTokenMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	// serviceAccountVolumePrefix names the projected token volume: kube-api-access-<5 random>.
	serviceAccountVolumePrefix = "kube-api-access-"
	// serviceAccountTokenExpirationSeconds is Kubernetes' WarnOnlyBoundTokenExpirationSeconds:
	// the projected token's requested lifetime, which the issuer recognises and may extend.
	serviceAccountTokenExpirationSeconds = 3607
	// defaultServiceAccountWait bounds how long a pod create waits for its namespace's
	// "default" account, which the serviceaccount controller creates just after the
	// namespace (upstream retries 10 times 100–200 ms).
	defaultServiceAccountWait = 2 * time.Second
)

var serviceAccountResource = corev1.Resource("serviceaccount")

// ServiceAccountAdmission is Kubernetes' ServiceAccount admission plugin, on pod create:
// a pod runs as "default" unless it names an account; the account must exist; the pod
// gets the kube-api-access projected volume (token, cluster CA, namespace) mounted in its
// containers unless automounting is off; and the account's imagePullSecrets when it has
// none. Mirror pods are left as they are but may not use accounts or secrets.
// Accounts are read from a followed copy, as the plugin's lister is, so that a pod
// create reads no storage; an account the copy does not know yet is read from storage.
type ServiceAccountAdmission struct {
	accounts *Store
	known    *followed[*corev1.ServiceAccount]
	// defaultWait bounds the wait for a namespace's "default" account.
	defaultWait time.Duration
	// waiting, when set (tests), is called as a create starts waiting for an account.
	waiting func(key string)
}

// NewServiceAccountAdmission follows the serviceaccounts store until ctx ends. Start it
// after the store's watch cache.
func NewServiceAccountAdmission(ctx context.Context, serviceAccounts *Store) *ServiceAccountAdmission {
	return &ServiceAccountAdmission{
		accounts:    serviceAccounts,
		known:       follow[*corev1.ServiceAccount](ctx, serviceAccounts),
		defaultWait: defaultServiceAccountWait,
	}
}

// AdmitPod is a pods store's mutating admission step; it acts on create only (old nil):
// pod specs are immutable, so an update keeps what the create got.
func (a *ServiceAccountAdmission) AdmitPod(ctx context.Context, obj, old runtime.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return apierrors.NewBadRequest("resource was marked with kind Pod but was unable to be converted")
	}
	if old != nil {
		return nil
	}
	forbidden := func(err error) error {
		// Named as kube-apiserver's admission names a refused object: by its generateName
		// when the name is still to be generated (a controller's pods).
		name := pod.Name
		if name == "" {
			name = pod.GenerateName
		}
		return apierrors.NewForbidden(corev1.Resource("pods"), name, err)
	}
	// The kubelet deletes a mirror pod whose spec differs from its static pod's: it is not
	// changed, but it may not reach for credentials either.
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		if err := mirrorPodRefusal(pod); err != nil {
			return forbidden(err)
		}
		return nil
	}
	name := pod.Spec.ServiceAccountName
	if name == "" {
		name = pod.Spec.DeprecatedServiceAccount // the alias, as conversion reads it
	}
	if name == "" {
		name = DefaultServiceAccountName
	}
	// Both fields, as defaults.DefaultServiceAccount leaves them when this step is off.
	pod.Spec.ServiceAccountName, pod.Spec.DeprecatedServiceAccount = name, name
	sa, err := a.serviceAccount(ctx, pod.Namespace, name)
	if err != nil {
		return forbidden(fmt.Errorf("error looking up service account %s/%s: %w", pod.Namespace, name, err))
	}
	if automountToken(sa, pod) {
		mountServiceAccountToken(pod)
	}
	if len(pod.Spec.ImagePullSecrets) == 0 && len(sa.ImagePullSecrets) > 0 {
		pod.Spec.ImagePullSecrets = make([]corev1.LocalObjectReference, len(sa.ImagePullSecrets))
		for i, ref := range sa.ImagePullSecrets {
			pod.Spec.ImagePullSecrets[i].Name = ref.Name
		}
	}
	return nil
}

// serviceAccount returns the account, or a NotFound naming it as upstream's lister does
// (`serviceaccount "x" not found`). A missing "default" is waited for: the controller
// creates it a moment after its namespace, and a pod created at once must not fail.
func (a *ServiceAccountAdmission) serviceAccount(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	key := followKey(ns, name)
	if sa, ok := a.known.get(key); ok {
		return sa, nil
	}
	sa, err := a.stored(ctx, ns, name)
	if err != nil || sa != nil {
		return sa, err
	}
	if name == DefaultServiceAccountName {
		if sa := a.await(ctx, key); sa != nil {
			return sa, nil
		}
		// The copy may be behind (relisting after a broken watch): storage decides, unless
		// the request is over.
		if ctx.Err() == nil {
			if sa, err := a.stored(ctx, ns, name); sa != nil || err != nil {
				return sa, err
			}
		}
	}
	return nil, apierrors.NewNotFound(serviceAccountResource, name)
}

// stored reads the account from storage; nil, nil when it does not exist.
func (a *ServiceAccountAdmission) stored(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	obj, err := a.accounts.Get(ctx, ns, name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.ServiceAccount), nil
}

// await waits until the followed copy has the account with key, the request's context
// ends or defaultWait passes; nil when it did not appear.
func (a *ServiceAccountAdmission) await(ctx context.Context, key string) *corev1.ServiceAccount {
	ctx, cancel := context.WithTimeout(ctx, a.defaultWait)
	defer cancel()
	if a.waiting != nil {
		a.waiting(key)
	}
	for {
		sa, ok, changed := a.known.getOrChanged(key)
		if ok {
			return sa
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}

// automountToken: the pod's choice, else the account's, else true.
func automountToken(sa *corev1.ServiceAccount, pod *corev1.Pod) bool {
	if pod.Spec.AutomountServiceAccountToken != nil {
		return *pod.Spec.AutomountServiceAccountToken
	}
	if sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken
	}
	return true
}

// mountServiceAccountToken mounts the kube-api-access volume read-only at
// ServiceAccountTokenMountPath in every init and regular container that has nothing
// mounted there (ephemeral containers are added later, through their subresource), and
// adds the volume when one of them needs it. A volume the pod already has under that
// name prefix is reused, so a pod created from another pod's spec does not get two.
func mountServiceAccountToken(pod *corev1.Pod) {
	volumeName, haveVolume := "", false
	for _, v := range pod.Spec.Volumes {
		if strings.HasPrefix(v.Name, serviceAccountVolumePrefix) {
			volumeName, haveVolume = v.Name, true
			break
		}
	}
	if !haveVolume {
		volumeName = generateName(serviceAccountVolumePrefix)
	}
	mount := corev1.VolumeMount{Name: volumeName, ReadOnly: true, MountPath: ServiceAccountTokenMountPath}
	needed := addTokenMount(pod.Spec.InitContainers, mount)
	needed = addTokenMount(pod.Spec.Containers, mount) || needed
	if needed && !haveVolume {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{
			Name:         volumeName,
			VolumeSource: corev1.VolumeSource{Projected: tokenVolumeSource()},
		})
	}
}

// addTokenMount adds mount to the containers without a mount at its path; true when it
// added one.
func addTokenMount(containers []corev1.Container, mount corev1.VolumeMount) bool {
	added := false
	for i := range containers {
		if !hasMountAt(containers[i].VolumeMounts, mount.MountPath) {
			containers[i].VolumeMounts = append(containers[i].VolumeMounts, mount)
			added = true
		}
	}
	return added
}

func hasMountAt(mounts []corev1.VolumeMount, path string) bool {
	for _, m := range mounts {
		if m.MountPath == path {
			return true
		}
	}
	return false
}

// tokenVolumeSource is the kube-api-access volume, as Kubernetes' TokenVolumeSource: a
// bound token, the cluster CA from the kube-root-ca.crt ConfigMap, and the namespace.
func tokenVolumeSource() *corev1.ProjectedVolumeSource {
	return &corev1.ProjectedVolumeSource{
		// Explicit, as upstream sets it, so that the stored pod does not depend on defaulting.
		DefaultMode: ptr.To[int32](corev1.ProjectedVolumeSourceDefaultMode),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Path:              "token",
				ExpirationSeconds: ptr.To[int64](serviceAccountTokenExpirationSeconds),
			}},
			{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
			}},
			{DownwardAPI: &corev1.DownwardAPIProjection{
				Items: []corev1.DownwardAPIVolumeFile{{
					Path:     "namespace",
					FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
				}},
			}},
		},
	}
}

// mirrorPodRefusal is why a mirror pod may not be created, with upstream's texts; nil
// when it may.
func mirrorPodRefusal(pod *corev1.Pod) error {
	if pod.Spec.ServiceAccountName != "" || pod.Spec.DeprecatedServiceAccount != "" {
		return errors.New("a mirror pod may not reference service accounts")
	}
	if referencesSecrets(pod) {
		return errors.New("a mirror pod may not reference secrets")
	}
	for _, v := range pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, src := range v.Projected.Sources {
			if src.ServiceAccountToken != nil {
				return errors.New("a mirror pod may not use ServiceAccountToken volume projections")
			}
		}
	}
	return nil
}

// referencesSecrets tells whether the pod names a Secret anywhere Kubernetes'
// VisitPodSecretNames looks: pull secrets, the env of every container (init, regular,
// ephemeral) and the volumes that take a secret.
func referencesSecrets(pod *corev1.Pod) bool {
	if len(pod.Spec.ImagePullSecrets) > 0 {
		return true
	}
	envRefs := func(envFrom []corev1.EnvFromSource, env []corev1.EnvVar) bool {
		for _, from := range envFrom {
			if from.SecretRef != nil {
				return true
			}
		}
		for _, e := range env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				return true
			}
		}
		return false
	}
	for _, c := range append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...) {
		if envRefs(c.EnvFrom, c.Env) {
			return true
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if envRefs(c.EnvFrom, c.Env) {
			return true
		}
	}
	for _, v := range pod.Spec.Volumes {
		src := v.VolumeSource
		switch {
		case src.Secret != nil,
			src.AzureFile != nil && src.AzureFile.SecretName != "",
			src.CephFS != nil && src.CephFS.SecretRef != nil,
			src.Cinder != nil && src.Cinder.SecretRef != nil,
			src.FlexVolume != nil && src.FlexVolume.SecretRef != nil,
			src.RBD != nil && src.RBD.SecretRef != nil,
			src.ScaleIO != nil && src.ScaleIO.SecretRef != nil,
			src.ISCSI != nil && src.ISCSI.SecretRef != nil,
			src.StorageOS != nil && src.StorageOS.SecretRef != nil,
			src.CSI != nil && src.CSI.NodePublishSecretRef != nil:
			return true
		case src.Projected != nil:
			for _, p := range src.Projected.Sources {
				if p.Secret != nil {
					return true
				}
			}
		}
	}
	return false
}
