{{/* Chart name, truncated for label values. */}}
{{- define "ems.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-scoped base name of every object. */}}
{{- define "ems.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of one service's objects; call with (dict "root" $ "svc" $name). */}}
{{- define "ems.svcname" -}}
{{- printf "%s-%s" (include "ems.fullname" .root | trunc 44 | trimSuffix "-") .svc | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ems.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "ems.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ems
{{- end -}}

{{/* Selector labels of one service; call with (dict "root" $ "svc" $name). */}}
{{- define "ems.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ems.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .svc }}
{{- end -}}

{{- define "ems.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ems.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "ems.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "ems.plantConfigMap" -}}
{{- default (printf "%s-plant" (include "ems.fullname" .)) .Values.plant.existingConfigMap -}}
{{- end -}}

{{- define "ems.kafkaSasl" -}}
{{- hasPrefix "SASL_" .Values.kafka.securityProtocol -}}
{{- end -}}

{{- define "ems.kafkaTls" -}}
{{- has .Values.kafka.securityProtocol (list "SSL" "SASL_SSL") -}}
{{- end -}}

{{/*
The config file of one service, as a dict: the shared sections built from
the chart's values, with the service's own "config" merged over them.
Credentials are "file:" references to mounted Secret keys, never values.
Call with (dict "root" $ "svc" $name "s" $svc).
*/}}
{{- define "ems.serviceConfig" -}}
{{- $v := .root.Values -}}
{{- $kafka := dict "security.protocol" $v.kafka.securityProtocol -}}
{{- if eq (include "ems.kafkaSasl" .root) "true" -}}
{{- $_ := required "kafka.sasl.existingSecret is required with a SASL_* securityProtocol" $v.kafka.sasl.existingSecret -}}
{{- $_ := set $kafka "sasl.mechanisms" $v.kafka.sasl.mechanism -}}
{{- $_ := set $kafka "sasl.username" "file:/etc/ems/secrets/kafka-sasl/username" -}}
{{- $_ := set $kafka "sasl.password" "file:/etc/ems/secrets/kafka-sasl/password" -}}
{{- end -}}
{{- if eq (include "ems.kafkaTls" .root) "true" -}}
{{- $_ := required "kafka.tls.existingSecret is required with an SSL securityProtocol" $v.kafka.tls.existingSecret -}}
{{- $_ := set $kafka "ssl.ca.location" "/etc/ems/secrets/kafka-tls/ca.crt" -}}
{{- if $v.kafka.tls.clientCertificate -}}
{{- $_ := set $kafka "ssl.certificate.location" "/etc/ems/secrets/kafka-tls/tls.crt" -}}
{{- $_ := set $kafka "ssl.key.location" "/etc/ems/secrets/kafka-tls/tls.key" -}}
{{- end -}}
{{- end -}}
{{- if eq .svc "ingester" -}}
{{- /* while PostgreSQL is away the ingester holds its batch and does not
       poll the consumer: a long poll interval keeps the group from taking
       its partitions away during the outage (docs/ingester.md) */ -}}
{{- $_ := set $kafka "max.poll.interval.ms" "86400000" -}}
{{- end -}}
{{- $kafka = merge $kafka (deepCopy $v.kafka.extraProperties) -}}
{{- $cfg := dict
    "log" (dict "level" $v.log.level)
    "http" (dict "listen" "0.0.0.0" "port" $v.httpPort)
    "bus" (dict "bootstrap" $v.kafka.bootstrap "registry_url" $v.schemaRegistry.url
                "schema_dir" "/usr/share/ems/schemas" "topic_prefix" $v.kafka.topicPrefix
                "client_id" .svc "kafka" $kafka)
    "plant" (dict "path" "/etc/ems/plant/plant.yaml") -}}
{{- $uses := .s.uses | default dict -}}
{{- if $uses.postgresql -}}
{{- $db := dict "conninfo" (printf "host=%s port=%v dbname=%s sslmode=%s" $v.postgresql.host $v.postgresql.port $v.postgresql.database $v.postgresql.sslmode) -}}
{{- if $v.postgresql.existingSecret -}}
{{- $_ := set $db "user" "file:/etc/ems/secrets/postgresql/username" -}}
{{- $_ := set $db "password" "file:/etc/ems/secrets/postgresql/password" -}}
{{- end -}}
{{- $_ := set $cfg "db" $db -}}
{{- end -}}
{{- if $uses.redis -}}
{{- /* only the keys a service's redis section has: "tls" is written only
       when asked for, so a service that cannot honour it refuses to start
       instead of a default file failing on an unknown key */ -}}
{{- $redis := dict "addr" (printf "%s:%v" $v.redis.host $v.redis.port) -}}
{{- if $v.redis.tls -}}
{{- $_ := set $redis "tls" true -}}
{{- end -}}
{{- if $v.redis.existingSecret -}}
{{- $_ := set $redis "password" "file:/etc/ems/secrets/redis/password" -}}
{{- end -}}
{{- $_ := set $cfg "redis" $redis -}}
{{- end -}}
{{- if eq .svc "ingester" -}}
{{- /* the image ships the schema migrations beside the Avro schemas;
       retention only with its archive volume mounted (the root filesystem
       is read-only), see docs/deployment.md */ -}}
{{- $arc := .s.archive | default dict -}}
{{- if $arc.enabled -}}
{{- $_ := set $cfg "ingester" (dict "migrations_dir" "/usr/share/ems/migrations" "retention_days" $arc.retentionDays "archive_dir" "/var/lib/ems/archive") -}}
{{- else -}}
{{- $_ := set $cfg "ingester" (dict "migrations_dir" "/usr/share/ems/migrations" "retention_days" 0) -}}
{{- end -}}
{{- end -}}
{{- if and .s.state .s.state.enabled -}}
{{- /* working state on the pod's own claim (a StatefulSet's), so a new
       pod starts where the last one stopped: the gateway's spool, manual
       overrides and command state; the forecaster's models and stop mark */ -}}
{{- if eq .svc "scada-gateway" -}}
{{- $_ := set $cfg "scada" (dict "spool_dir" "/var/lib/ems/state/spool" "override_dir" "/var/lib/ems/state/override" "state_file" "/var/lib/ems/state/state.json") -}}
{{- else if eq .svc "forecaster" -}}
{{- $_ := set $cfg "forecaster" (dict "model_dir" "/var/lib/ems/state/models") -}}
{{- end -}}
{{- end -}}
{{- toYaml (mergeOverwrite $cfg (deepCopy (.s.config | default dict))) -}}
{{- end -}}

{{/* the archive volume's claim: the given one, or the chart's */}}
{{- define "ems.archiveClaim" -}}
{{- .s.archive.existingClaim | default (printf "%s-archive" (include "ems.svcname" .)) -}}
{{- end -}}
