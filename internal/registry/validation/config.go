package validation

import (
	"encoding/json"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MaxConfigSize is the limit on the summed size of the values of a Secret or
// ConfigMap: 1 MiB, so that objects fit comfortably in etcd.
const MaxConfigSize = corev1.MaxSecretSize

// ValidateConfigMap validates a ConfigMap: keys are valid config keys, no key
// is in both data and binaryData, and the values total at most 1 MiB.
func ValidateConfigMap(cm *corev1.ConfigMap) field.ErrorList {
	allErrs := ValidateObjectMeta(&cm.ObjectMeta, true, ValidateConfigMapName, field.NewPath("metadata"))
	total := 0
	dataPath, binaryPath := field.NewPath("data"), field.NewPath("binaryData")
	for _, key := range sortedKeys(cm.Data) {
		allErrs = append(allErrs, messagesToErrors(validation.IsConfigMapKey(key), dataPath.Key(key), key)...)
		if _, dup := cm.BinaryData[key]; dup {
			allErrs = append(allErrs, field.Invalid(dataPath.Key(key), key, "duplicate of key present in binaryData"))
		}
		total += len(cm.Data[key])
	}
	for _, key := range sortedKeys(cm.BinaryData) {
		allErrs = append(allErrs, messagesToErrors(validation.IsConfigMapKey(key), binaryPath.Key(key), key)...)
		total += len(cm.BinaryData[key])
	}
	if total > MaxConfigSize {
		// Kubernetes reports the size against the whole object.
		allErrs = append(allErrs, field.TooLong(field.NewPath(""), "", MaxConfigSize))
	}
	return allErrs
}

// ValidateConfigMapUpdate validates a ConfigMap update: once `immutable` is
// true, neither it nor the data may change.
func ValidateConfigMapUpdate(cm, oldCm *corev1.ConfigMap) field.ErrorList {
	allErrs := validateMetaUpdate(&cm.ObjectMeta, &oldCm.ObjectMeta)
	if oldCm.Immutable != nil && *oldCm.Immutable {
		const msg = "field is immutable when `immutable` is set"
		if cm.Immutable == nil || !*cm.Immutable {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("immutable"), msg))
		}
		if !reflect.DeepEqual(cm.Data, oldCm.Data) {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("data"), msg))
		}
		if !reflect.DeepEqual(cm.BinaryData, oldCm.BinaryData) {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("binaryData"), msg))
		}
	}
	return append(allErrs, ValidateConfigMap(cm)...)
}

// secretData returns the data a secret will store: data with stringData
// merged over it, as the API server does before validation.
func secretData(secret *corev1.Secret) map[string][]byte {
	if len(secret.StringData) == 0 {
		return secret.Data
	}
	data := make(map[string][]byte, len(secret.Data)+len(secret.StringData))
	for k, v := range secret.Data {
		data[k] = v
	}
	for k, v := range secret.StringData {
		data[k] = []byte(v)
	}
	return data
}

// ValidateSecret validates a secret: keys, total size (1 MiB), and the keys
// each well-known type requires.
func ValidateSecret(secret *corev1.Secret) field.ErrorList {
	allErrs := ValidateObjectMeta(&secret.ObjectMeta, true, ValidateSecretName, field.NewPath("metadata"))
	dataPath := field.NewPath("data")
	data := secretData(secret)
	total := 0
	for _, key := range sortedKeys(data) {
		allErrs = append(allErrs, messagesToErrors(validation.IsConfigMapKey(key), dataPath.Key(key), key)...)
		total += len(data[key])
	}
	if total > MaxConfigSize {
		allErrs = append(allErrs, field.TooLong(dataPath, "", MaxConfigSize))
	}
	requireKeys := func(keys ...string) {
		for _, k := range keys {
			if _, ok := data[k]; !ok {
				allErrs = append(allErrs, field.Required(dataPath.Key(k), ""))
			}
		}
	}
	requireJSON := func(key string) {
		raw, ok := data[key]
		if !ok {
			allErrs = append(allErrs, field.Required(dataPath.Key(key), ""))
			return
		}
		if err := json.Unmarshal(raw, &map[string]any{}); err != nil {
			allErrs = append(allErrs, field.Invalid(dataPath.Key(key), "<secret contents redacted>", err.Error()))
		}
	}
	switch secret.Type {
	case corev1.SecretTypeServiceAccountToken:
		if secret.Annotations[corev1.ServiceAccountNameKey] == "" {
			allErrs = append(allErrs, field.Required(field.NewPath("metadata", "annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	case corev1.SecretTypeDockercfg:
		requireJSON(corev1.DockerConfigKey)
	case corev1.SecretTypeDockerConfigJson:
		requireJSON(corev1.DockerConfigJsonKey)
	case corev1.SecretTypeBasicAuth:
		// Either key may be empty, but one must be present.
		_, hasUser := data[corev1.BasicAuthUsernameKey]
		_, hasPassword := data[corev1.BasicAuthPasswordKey]
		if !hasUser && !hasPassword {
			requireKeys(corev1.BasicAuthUsernameKey, corev1.BasicAuthPasswordKey)
		}
	case corev1.SecretTypeSSHAuth:
		if len(data[corev1.SSHAuthPrivateKey]) == 0 {
			allErrs = append(allErrs, field.Required(dataPath.Key(corev1.SSHAuthPrivateKey), ""))
		}
	case corev1.SecretTypeTLS:
		requireKeys(corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	}
	return allErrs
}

// ValidateSecretUpdate validates a secret update: the type never changes,
// and once `immutable` is true neither it nor the data may change.
func ValidateSecretUpdate(secret, oldSecret *corev1.Secret) field.ErrorList {
	allErrs := validateMetaUpdate(&secret.ObjectMeta, &oldSecret.ObjectMeta)
	allErrs = append(allErrs, ValidateImmutableField(secret.Type, oldSecret.Type, field.NewPath("type"))...)
	if oldSecret.Immutable != nil && *oldSecret.Immutable {
		const msg = "field is immutable when `immutable` is set"
		if secret.Immutable == nil || !*secret.Immutable {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("immutable"), msg))
		}
		if !reflect.DeepEqual(secretData(secret), secretData(oldSecret)) {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("data"), msg))
		}
	}
	return append(allErrs, ValidateSecret(secret)...)
}

// ValidateServiceAccount validates a service account.
func ValidateServiceAccount(sa *corev1.ServiceAccount) field.ErrorList {
	return ValidateObjectMeta(&sa.ObjectMeta, true, ValidateServiceAccountName, field.NewPath("metadata"))
}

// ValidateServiceAccountUpdate validates a service account update.
func ValidateServiceAccountUpdate(sa, oldSa *corev1.ServiceAccount) field.ErrorList {
	allErrs := validateMetaUpdate(&sa.ObjectMeta, &oldSa.ObjectMeta)
	return append(allErrs, ValidateServiceAccount(sa)...)
}
