/*
 * Builders for the Kubernetes objects an AzureIdentityTerminator owns: the
 * Secret holding the client secret, the aad-pod-identity AzureIdentity
 * (type 1, service principal with secret) and the AzureIdentityBinding.
 *
 * Each builder returns a new cJSON object that the caller frees, or NULL
 * when out of memory. Every object carries a controller owner reference to
 * the AzureIdentityTerminator and the managed-by label, so the product can
 * tell its own objects from objects a user created with the same name.
 */
#ifndef AZIDT_OWNED_OBJECTS_H
#define AZIDT_OWNED_OBJECTS_H

#include <stdbool.h>

#include <cjson/cJSON.h>

/* Annotations on the Secret: the Azure keyId of the password it contains and
 * the password's expiry (RFC 3339). Neither is secret. */
#define AZIDT_SECRET_KEY_ID_ANNOTATION "azidterminator.io/key-id"
#define AZIDT_SECRET_EXPIRY_ANNOTATION "azidterminator.io/expires-at"
/* When the password in the Secret was created (RFC 3339). */
#define AZIDT_SECRET_ROTATED_ANNOTATION "azidterminator.io/rotated-at"
/* After a rotation: the keyId of the password that running pods may still
 * hold, and when it is removed from Azure (RFC 3339). */
#define AZIDT_SECRET_PREVIOUS_KEY_ANNOTATION "azidterminator.io/previous-key-id"
#define AZIDT_SECRET_RETIRE_ANNOTATION "azidterminator.io/previous-retire-at"

/* The AzureIdentityTerminator that owns the objects. */
struct azidt_owner {
    const char *namespace_;
    const char *name;
    const char *uid;
};

/* Secret named name with data.clientSecret = base64(secret_text). The
 * returned tree holds the secret: free it with azidt_owned_free_secret(),
 * which wipes the value first. */
cJSON *azidt_owned_secret(const struct azidt_owner *owner, const char *name,
                          const char *secret_text, const char *key_id,
                          const char *expires_at);

/* Wipe every string in a tree built by azidt_owned_secret() (or any tree
 * that held a secret), then free it. Accepts NULL. */
void azidt_owned_free_secret(cJSON *tree);

/* AzureIdentity of type 1 pointing at the Secret of the same name. */
cJSON *azidt_owned_azure_identity(const struct azidt_owner *owner,
                                  const char *name, const char *tenant_id,
                                  const char *client_id);

/* AzureIdentityBinding of identity name with the given selector. */
cJSON *azidt_owned_binding(const struct azidt_owner *owner, const char *name,
                           const char *selector);

/* Return the name of the AzureIdentityTerminator that controls object, or
 * NULL when none does. The string belongs to object. */
const char *azidt_owned_controller_name(const cJSON *object);

/* Return true when object carries a controller owner reference to the
 * AzureIdentityTerminator with uid. */
bool azidt_owned_is_owned_by(const cJSON *object, const char *uid);

/* Return true when object's controller owner reference names the
 * AzureIdentityTerminator owner_name but not uid: an earlier object of that
 * name, which no longer exists because a name belongs to one object at a
 * time. The garbage collector removes such an object eventually. */
bool azidt_owned_is_left_by_previous(const cJSON *object,
                                     const char *owner_name, const char *uid);

#endif
