/*
 * Names the product shares with Kubernetes, aad-pod-identity and Azure:
 * API groups, labels, annotations, finalizers, tags and routes. Every
 * module takes them from here so that one spelling exists.
 */
#ifndef AZIDT_CONSTANTS_H
#define AZIDT_CONSTANTS_H

/* The AzureIdentityTerminator custom resource. */
#define AZIDT_GROUP "azidterminator.io"
#define AZIDT_VERSION "v1alpha1"
#define AZIDT_API_VERSION AZIDT_GROUP "/" AZIDT_VERSION
#define AZIDT_KIND "AzureIdentityTerminator"
#define AZIDT_PLURAL "azureidentityterminators"

/* Finalizer that holds an AzureIdentityTerminator until its Azure objects
 * and Kubernetes objects are removed. */
#define AZIDT_FINALIZER AZIDT_GROUP "/cleanup"

/* Pod label naming the AzureIdentityTerminator a pod wants to use. */
#define AZIDT_POD_IDENTITY_LABEL AZIDT_GROUP "/identity"

/* Label put on every Kubernetes object the product creates. */
#define AZIDT_MANAGED_BY_LABEL "app.kubernetes.io/managed-by"
#define AZIDT_MANAGED_BY_VALUE "azure-identity-terminator"

/* aad-pod-identity names. */
#define AAD_POD_IDENTITY_GROUP "aadpodidentity.k8s.io"
#define AAD_POD_IDENTITY_VERSION "v1"
#define AAD_POD_IDENTITY_API_VERSION                                           \
    AAD_POD_IDENTITY_GROUP "/" AAD_POD_IDENTITY_VERSION
#define AAD_POD_BINDING_LABEL "aadpodidbinding"
#define AAD_POD_BEHAVIOR_ANNOTATION "aadpodidentity.k8s.io/Behavior"
#define AAD_POD_BEHAVIOR_NAMESPACED "namespaced"
/* AzureIdentity spec.type for a service principal with a client secret. */
#define AAD_POD_IDENTITY_TYPE_SP_SECRET 1
/* Key of the client secret inside the Kubernetes Secret. */
#define AZIDT_SECRET_KEY "clientSecret"

/* Tags on Azure applications, so that the reaper can recognise what this
 * cluster created. Graph filters them with tags/any(t:t eq '...'). */
#define AZIDT_TAG_MANAGED "azidterminator.io:managed"
#define AZIDT_TAG_CLUSTER_PREFIX "azidterminator.io:cluster="
#define AZIDT_TAG_OBJECT_PREFIX "azidterminator.io:object="
#define AZIDT_TAG_UID_PREFIX "azidterminator.io:uid="

/* Webhook routes. */
#define AZIDT_ROUTE_MUTATE_AZIDT "/mutate/azureidentityterminators"
#define AZIDT_ROUTE_VALIDATE_AZIDT "/validate/azureidentityterminators"
#define AZIDT_ROUTE_MUTATE_PODS "/mutate/pods"
#define AZIDT_ROUTE_VALIDATE_PODS "/validate/pods"
#define AZIDT_ROUTE_HEALTHZ "/healthz"
#define AZIDT_ROUTE_READYZ "/readyz"
#define AZIDT_ROUTE_METRICS "/metrics"

#endif
