package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

func TestLegacyVolumeSources(t *testing.T) {
	in := &corev1.Pod{Spec: corev1.PodSpec{Volumes: []corev1.Volume{
		{Name: "iscsi", VolumeSource: corev1.VolumeSource{ISCSI: &corev1.ISCSIVolumeSource{TargetPortal: "t"}}},
		{Name: "rbd", VolumeSource: corev1.VolumeSource{RBD: &corev1.RBDVolumeSource{RBDImage: "i"}}},
		{Name: "azure", VolumeSource: corev1.VolumeSource{AzureDisk: &corev1.AzureDiskVolumeSource{DiskName: "d"}}},
		{Name: "scaleio", VolumeSource: corev1.VolumeSource{ScaleIO: &corev1.ScaleIOVolumeSource{System: "s"}}},
	}}}
	want := &corev1.Pod{Spec: defaultedPodSpec(corev1.PodSpec{
		EnableServiceLinks: ptr.To(true),
		Volumes: []corev1.Volume{
			{Name: "iscsi", VolumeSource: corev1.VolumeSource{ISCSI: &corev1.ISCSIVolumeSource{TargetPortal: "t", ISCSIInterface: "default"}}},
			{Name: "rbd", VolumeSource: corev1.VolumeSource{RBD: &corev1.RBDVolumeSource{
				RBDImage: "i", RBDPool: "rbd", RadosUser: "admin", Keyring: "/etc/ceph/keyring",
			}}},
			{Name: "azure", VolumeSource: corev1.VolumeSource{AzureDisk: &corev1.AzureDiskVolumeSource{
				DiskName: "d", CachingMode: ptr.To(corev1.AzureDataDiskCachingReadWrite), Kind: ptr.To(corev1.AzureSharedBlobDisk),
				FSType: ptr.To("ext4"), ReadOnly: ptr.To(false),
			}}},
			{Name: "scaleio", VolumeSource: corev1.VolumeSource{ScaleIO: &corev1.ScaleIOVolumeSource{
				System: "s", StorageMode: "ThinProvisioned", FSType: "xfs",
			}}},
		},
	})}
	checkDefaults(t, in, want)

	pvIn := &corev1.PersistentVolume{Spec: corev1.PersistentVolumeSpec{
		PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
		Capacity:                      corev1.ResourceList{"storage": resource.MustParse("10Gi")},
		PersistentVolumeSource: corev1.PersistentVolumeSource{
			RBD:       &corev1.RBDPersistentVolumeSource{RBDImage: "i"},
			ISCSI:     &corev1.ISCSIPersistentVolumeSource{TargetPortal: "t"},
			AzureDisk: &corev1.AzureDiskVolumeSource{DiskName: "d", FSType: ptr.To("xfs")},
			ScaleIO:   &corev1.ScaleIOPersistentVolumeSource{System: "s", FSType: "ext4"},
		},
	}}
	pvWant := &corev1.PersistentVolume{
		Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			Capacity:                      corev1.ResourceList{"storage": resource.MustParse("10Gi")},
			VolumeMode:                    ptr.To(corev1.PersistentVolumeFilesystem),
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				RBD:   &corev1.RBDPersistentVolumeSource{RBDImage: "i", RBDPool: "rbd", RadosUser: "admin", Keyring: "/etc/ceph/keyring"},
				ISCSI: &corev1.ISCSIPersistentVolumeSource{TargetPortal: "t", ISCSIInterface: "default"},
				AzureDisk: &corev1.AzureDiskVolumeSource{
					DiskName: "d", CachingMode: ptr.To(corev1.AzureDataDiskCachingReadWrite), Kind: ptr.To(corev1.AzureSharedBlobDisk),
					FSType: ptr.To("xfs"), ReadOnly: ptr.To(false),
				},
				ScaleIO: &corev1.ScaleIOPersistentVolumeSource{System: "s", StorageMode: "ThinProvisioned", FSType: "ext4"},
			},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumePending},
	}
	checkDefaults(t, pvIn, pvWant)
}

func TestResourceQuotaRounding(t *testing.T) {
	in := &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"requests.cpu": resource.MustParse("0.0005")}}}
	want := &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"requests.cpu": resource.MustParse("1m")}}}
	checkDefaults(t, in, want)
}
