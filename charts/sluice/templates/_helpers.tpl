{{- define "sluice.labels" -}}
app.kubernetes.io/part-of: sluice
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "sluice.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{- define "sluice.podSecurity" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "sluice.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* The NATS URL of the gateway and the poller: an external server, the bundled one, or none. */}}
{{- define "sluice.natsUrl" -}}
{{- if .Values.nats.externalUrl -}}
{{ .Values.nats.externalUrl }}
{{- else if .Values.nats.enabled -}}
{{ printf "nats://sluice-nats.%s.svc:4222" .Release.Namespace }}
{{- end -}}
{{- end -}}

{{/* Replicas of JetStream streams and KV buckets: nats.replicas (1 or 3; with externalUrl, the external cluster's). */}}
{{- define "sluice.natsReplicas" -}}
{{- $r := int .Values.nats.replicas -}}
{{- if not (or (eq $r 1) (eq $r 3)) -}}
{{- fail (printf "nats.replicas must be 1 or 3, not %d" $r) -}}
{{- end -}}
{{ $r }}
{{- end -}}

{{/* OTel settings of a platform component (nothing while telemetry.otlp.endpoint is empty). */}}
{{- define "sluice.otelEnv" -}}
{{- with .Values.telemetry }}{{ if .otlp.endpoint }}
- { name: OTEL_EXPORTER_OTLP_ENDPOINT, value: {{ .otlp.endpoint | quote }} }
- { name: OTEL_EXPORTER_OTLP_PROTOCOL, value: {{ .otlp.protocol | quote }} }
- { name: OTEL_TRACES_SAMPLER, value: {{ .sampler | quote }} }
{{- if .samplerArg }}
- { name: OTEL_TRACES_SAMPLER_ARG, value: {{ .samplerArg | quote }} }
{{- end }}
- { name: OTEL_METRICS_EXPORTER, value: none }
- { name: OTEL_LOGS_EXPORTER, value: none }
{{- end }}{{ end }}
{{- end }}

{{/* A label map as "k=v,k2=v2" (sorted). */}}
{{- define "sluice.selectorString" -}}
{{- $parts := list }}{{ range $k, $v := . }}{{ $parts = append $parts (printf "%s=%s" $k $v) }}{{ end }}
{{- join "," $parts }}
{{- end }}

{{/*
Values added after the first release, with their defaults: `helm upgrade --reuse-values` keeps the
old release's values and would otherwise leave these empty.
*/}}
{{- define "sluice.tokenAudience" -}}
{{- dig "tokenAudience" "sluice" .Values.gateway -}}
{{- end -}}
{{- define "sluice.blockedCidrs" -}}
{{- join "," (dig "blockedCidrs" (list "10.0.0.0/8" "172.16.0.0/12" "192.168.0.0/16" "100.64.0.0/10") (.Values.destinations | default dict)) -}}
{{- end -}}

{{/* The invoke key (base64): the existing Secret's on upgrades, a new random one on install. */}}
{{- define "sluice.invokeKey" -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace "sluice-invoke-key" -}}
{{- if and $existing $existing.data (index $existing.data "key") -}}
{{ index $existing.data "key" }}
{{- else -}}
{{- /* Memoised: every template of one render sees the same key. */ -}}
{{- if not .Values._invokeKey -}}{{- $_ := set .Values "_invokeKey" (randAlphaNum 64 | b64enc) -}}{{- end -}}
{{ .Values._invokeKey }}
{{- end -}}
{{- end }}

{{/* Pod template annotation: a changed invoke key rolls the pods that read it. */}}
{{- define "sluice.invokeKeyChecksum" -}}
checksum/invoke-key: {{ include "sluice.invokeKey" . | sha256sum | trunc 16 | quote }}
{{- end }}

{{/* The invoke key's volume and mount (gateway, controller). */}}
{{- define "sluice.invokeKeyVolume" -}}
- name: invoke-key
  # 292 = 0444: the pods run as a non-root user with no fsGroup, so a group- or owner-only mode
  # (the files belong to root) leaves the key unreadable to the process that needs it.
  secret: { secretName: sluice-invoke-key, defaultMode: 292 }
{{- end }}
{{- define "sluice.invokeKeyMount" -}}
- { name: invoke-key, mountPath: /var/run/sluice/invoke-key, readOnly: true }
{{- end }}

{{/* A size such as 256Mi, 4Gi or 0 in bytes (binary suffixes Ki, Mi, Gi, Ti). */}}
{{- define "sluice.bytes" -}}
{{- $s := toString . -}}
{{- if not (regexMatch "^[0-9]+(Ki|Mi|Gi|Ti)?$" $s) -}}
{{- fail (printf "%q is not a size like 256Mi, 4Gi or 0" $s) -}}
{{- end -}}
{{- $n := regexFind "^[0-9]+" $s | int64 -}}
{{- $u := regexReplaceAll "^[0-9]+" $s "" -}}
{{- $m := dict "" 1 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 -}}
{{- mul $n (get $m $u | int64) -}}
{{- end -}}

{{/* Where the components' NATS creds and keys are mounted. */}}
{{- define "sluice.natsSecretsDir" -}}/var/run/secrets/sluice/nats{{- end -}}

{{/* The volume of a component's NATS Secret (sluice-nats-<component>). */}}
{{- define "sluice.natsVolume" -}}
- name: nats-creds
  # 292 = 0444: readable by the non-root user of the pod (no fsGroup).
  secret: { secretName: sluice-nats-{{ . }}, defaultMode: 292 }
{{- end -}}
