{{/* Chart name, at most 63 characters (a DNS label). */}}
{{- define "azure-identity-terminator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Prefix of every object name: the release name, or release-chart when the
release name does not contain the chart name. At most 63 characters.
*/}}
{{- define "azure-identity-terminator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "azure-identity-terminator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "azure-identity-terminator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "azure-identity-terminator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "azure-identity-terminator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "azure-identity-terminator.serviceAccountName" -}}
{{- default (include "azure-identity-terminator.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{- define "azure-identity-terminator.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "azure-identity-terminator.fullname" .)) .Values.tls.secretName }}
{{- end }}

{{- define "azure-identity-terminator.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* Name of the cert-manager Certificate for the serving certificate. */}}
{{- define "azure-identity-terminator.servingCertificateName" -}}
{{- printf "%s-serving" (include "azure-identity-terminator.fullname" .) }}
{{- end }}

{{/*
Annotations of the webhook configurations: with cert-manager, cainjector
copies the CA of the serving certificate into every caBundle.
*/}}
{{- define "azure-identity-terminator.webhookAnnotations" -}}
{{- if .Values.certManager.enabled -}}
annotations:
  cert-manager.io/inject-ca-from: {{ printf "%s/%s" .Release.Namespace (include "azure-identity-terminator.servingCertificateName" .) }}
{{- end }}
{{- end }}

{{/*
The caBundle field of a webhook's clientConfig. With cert-manager it is left
out, so that an upgrade does not overwrite what cainjector wrote.
Otherwise tls.caBundle is required, as PEM text or as its base64.
*/}}
{{- define "azure-identity-terminator.caBundle" -}}
{{- if not .Values.certManager.enabled }}
{{- $ca := required "tls.caBundle is required when certManager.enabled is false: pass the CA that signed the serving certificate with --set-file tls.caBundle=ca.crt (certs/generate.sh writes ca.crt)" .Values.tls.caBundle }}
{{- if hasPrefix "-----BEGIN" (trim $ca) -}}
caBundle: {{ $ca | b64enc | quote }}
{{- else if hasPrefix "-----BEGIN" (trim $ca | b64dec) -}}
caBundle: {{ $ca | trim | quote }}
{{- else }}
{{- fail "tls.caBundle is neither PEM text nor the base64 of PEM text: pass the CA certificate file with --set-file tls.caBundle=ca.crt" }}
{{- end }}
{{- end }}
{{- end }}
