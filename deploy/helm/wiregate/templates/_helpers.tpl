{{/*
Names, labels, and the checks on values that the templates share.
*/}}

{{- define "wiregate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's objects are named after it; "wiregate-wiregate" is shortened. */}}
{{- define "wiregate.fullname" -}}
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

{{- define "wiregate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "wiregate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wiregate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "wiregate.labels" -}}
helm.sh/chart: {{ include "wiregate.chart" . }}
{{ include "wiregate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The API Service's own label, so the ServiceMonitor selects it and not the UDP one. */}}
{{- define "wiregate.apiComponentLabel" -}}
app.kubernetes.io/component: api
{{- end }}

{{- define "wiregate.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Secret the pod reads: the user's, or the chart's. */}}
{{- define "wiregate.secretName" -}}
{{- default (include "wiregate.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{/* Whether the chart makes a Secret: it holds something and the user has none. */}}
{{- define "wiregate.createSecret" -}}
{{- if not .Values.secret.existingSecret }}
{{- $keys := list }}
{{- range .Values.tunnels }}{{ if .privateKey }}{{ $keys = append $keys .name }}{{ end }}{{ end }}
{{- if or .Values.secret.apiToken $keys .Values.store.postgres.url }}true{{ end }}
{{- end }}
{{- end }}

{{/* The Secret's entry holding a tunnel's private key; empty when wiregate generates it. */}}
{{- define "wiregate.keyEntry" -}}
{{- if .privateKey }}{{ printf "%s.key" .name }}{{ else }}{{ default "" .privateKeySecretKey }}{{ end }}
{{- end }}

{{/* The Secret's entry holding the API token; empty when wiregate generates one. */}}
{{- define "wiregate.tokenEntry" -}}
{{- if .Values.secret.apiToken }}api-token{{ else }}{{ .Values.secret.apiTokenKey }}{{ end }}
{{- end }}

{{/* The Secret and entry holding the PostgreSQL URL; both empty with SQLite. */}}
{{- define "wiregate.storeUrlSecret" -}}
{{- $pg := .Values.store.postgres }}
{{- if $pg.url }}{{ include "wiregate.fullname" . }}{{ else if $pg.existingSecret }}{{ $pg.existingSecret }}{{ end }}
{{- end }}
{{- define "wiregate.storeUrlEntry" -}}
{{- $pg := .Values.store.postgres }}
{{- if $pg.url }}store-url{{ else if $pg.existingSecret }}{{ $pg.urlKey }}{{ end }}
{{- end }}

{{/*
The pod's affinity: the values' own if given; else, with more than one replica, an
anti-affinity that spreads the pods over nodes, so that losing one node loses one gateway.
*/}}
{{- define "wiregate.affinity" -}}
{{- $anti := .Values.podAntiAffinity }}
{{- if .Values.affinity }}
{{- toYaml .Values.affinity }}
{{- else if and (gt (int .Values.replicaCount) 1) (ne $anti.type "none") }}
{{- $term := dict "topologyKey" $anti.topologyKey "labelSelector" (dict "matchLabels" (include "wiregate.selectorLabels" . | fromYaml)) -}}
podAntiAffinity:
{{- if eq $anti.type "hard" }}
  requiredDuringSchedulingIgnoredDuringExecution:
    {{- toYaml (list $term) | nindent 4 }}
{{- else }}
  preferredDuringSchedulingIgnoredDuringExecution:
    {{- toYaml (list (dict "weight" 100 "podAffinityTerm" $term)) | nindent 4 }}
{{- end }}
{{- end }}
{{- end }}

{{/* Where the key files are mounted; wiregate.toml names them there. */}}
{{- define "wiregate.keyDir" -}}
/etc/wiregate/keys
{{- end }}

{{/*
Refuse values that cannot work, with a message naming the field, before anything is
rendered: the same spirit as wiregate's own checks of its file.
*/}}
{{- define "wiregate.validate" -}}
{{- if not .Values.tunnels }}
{{- fail "tunnels: at least one tunnel is needed (the UDP Service has a port per tunnel)" }}
{{- end }}
{{- $ports := dict }}
{{- $names := dict }}
{{- range $i, $t := .Values.tunnels }}
{{- if not $t.name }}
{{- fail (printf "tunnels[%d]: name is required" $i) }}
{{- end }}
{{- if hasKey $names $t.name }}
{{- fail (printf "tunnels: name %q is used by two tunnels" $t.name) }}
{{- end }}
{{- $_ := set $names $t.name true }}
{{- $port := int (default 0 $t.listenPort) }}
{{- if or (lt $port 1) (gt $port 65535) }}
{{- fail (printf "tunnel %s: listenPort must be 1-65535 (the Service needs a fixed port), not %v" $t.name $t.listenPort) }}
{{- end }}
{{- if hasKey $ports (toString $port) }}
{{- fail (printf "tunnel %s: listenPort %d is used by two tunnels" $t.name $port) }}
{{- end }}
{{- $_ := set $ports (toString $port) true }}
{{- if and $t.privateKey (not (regexMatch "^[-._a-zA-Z0-9]+$" $t.name)) }}
{{- fail (printf "tunnel %s: with privateKey the name must be of a-z A-Z 0-9 - . _ (it names the Secret's entry %s.key)" $t.name $t.name) }}
{{- end }}
{{- if and $t.privateKey $.Values.secret.existingSecret }}
{{- fail (printf "tunnel %s: privateKey goes into the chart's Secret, but secret.existingSecret is set: put the key there and name its entry with privateKeySecretKey" $t.name) }}
{{- end }}
{{- if and $t.privateKeySecretKey (not $.Values.secret.existingSecret) }}
{{- fail (printf "tunnel %s: privateKeySecretKey names an entry of secret.existingSecret, which is not set" $t.name) }}
{{- end }}
{{- range $t.peers }}
{{- if .presharedKey }}
{{- fail (printf "tunnel %s: peer %s has a presharedKey, a secret that would land in the ConfigMap: add this peer through the API (wiregate peer add %s <name> --psk)" $t.name .publicKey $t.name) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.secret.apiToken .Values.secret.existingSecret }}
{{- fail "secret.apiToken goes into the chart's Secret, but secret.existingSecret is set: put the token there and name its entry with secret.apiTokenKey" }}
{{- end }}
{{- if and .Values.secret.apiTokenKey (not .Values.secret.existingSecret) }}
{{- fail "secret.apiTokenKey names an entry of secret.existingSecret, which is not set" }}
{{- end }}
{{- if and .Values.secret.apiToken (lt (len .Values.secret.apiToken) 16) }}
{{- fail "secret.apiToken must be at least 16 characters (wiregate refuses shorter tokens)" }}
{{- end }}
{{- if eq (int .Values.apiPort) (int .Values.metricsPort) }}
{{- fail (printf "apiPort and metricsPort are both %d: wiregate serves them on listeners of their own" (int .Values.apiPort)) }}
{{- end }}
{{- $pg := .Values.store.postgres }}
{{- if and $pg.url $pg.existingSecret }}
{{- fail "store.postgres.url goes into the chart's Secret, but store.postgres.existingSecret is set: give one of them" }}
{{- end }}
{{- if and $pg.url .Values.secret.existingSecret }}
{{- fail "store.postgres.url goes into the chart's Secret, but secret.existingSecret is set: put the URL in a Secret of yours and name it with store.postgres.existingSecret and store.postgres.urlKey" }}
{{- end }}
{{- if and $pg.url (not (or (hasPrefix "postgres://" $pg.url) (hasPrefix "postgresql://" $pg.url) (contains "=" $pg.url))) }}
{{- fail "store.postgres.url must be a PostgreSQL URL (postgres://...) or libpq key=value settings" }}
{{- end }}
{{- if and $pg.existingSecret (not $pg.urlKey) }}
{{- fail "store.postgres.existingSecret is set: store.postgres.urlKey must name its entry holding the URL" }}
{{- end }}
{{- if and $pg.urlKey (not $pg.existingSecret) }}
{{- fail "store.postgres.urlKey names an entry of store.postgres.existingSecret, which is not set" }}
{{- end }}
{{- $replicas := int .Values.replicaCount }}
{{- if lt $replicas 0 }}
{{- fail (printf "replicaCount must be 0 or more, not %d" $replicas) }}
{{- end }}
{{- if and (gt $replicas 1) (not (include "wiregate.storeUrlEntry" .)) }}
{{- fail (printf "replicaCount is %d, but the store is SQLite, a file in one pod's volume that pods cannot share: set store.postgres (existingSecret and urlKey, or url) to run more than one replica" $replicas) }}
{{- end }}
{{- if and (gt $replicas 1) (not (include "wiregate.tokenEntry" .)) }}
{{- fail (printf "replicaCount is %d: the API Service spreads requests over the pods, so they need one token: set secret.apiToken, or secret.existingSecret and secret.apiTokenKey (else each pod generates its own)" $replicas) }}
{{- end }}
{{- if not (has .Values.podAntiAffinity.type (list "soft" "hard" "none")) }}
{{- fail (printf "podAntiAffinity.type must be soft, hard or none, not %q" .Values.podAntiAffinity.type) }}
{{- end }}
{{- if not (has .Values.service.udp.sessionAffinity (list "" "None" "ClientIP")) }}
{{- fail (printf "service.udp.sessionAffinity must be None or ClientIP, not %q" .Values.service.udp.sessionAffinity) }}
{{- end }}
{{- if not (has .Values.service.udp.type (list "LoadBalancer" "NodePort")) }}
{{- fail (printf "service.udp.type must be LoadBalancer or NodePort, not %q" .Values.service.udp.type) }}
{{- end }}
{{- end }}
