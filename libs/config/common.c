#include "config/common.h"

#include <string.h>

#define LOG_OFF(f) offsetof(cfg_common_t, log.f)
#define HTTP_OFF(f) offsetof(cfg_common_t, http.f)
#define BUS_OFF(f) offsetof(cfg_common_t, bus.f)

const cfg_option_t cfg_common_options[] = {
    {.section = "log",
     .key = "level",
     .type = CFG_STRING,
     .def = "info",
     .choices = "debug|info|warn|error",
     .offset = LOG_OFF(level),
     .desc = "Lowest level of the JSON log lines written to stderr."},
    {.section = "http",
     .key = "listen",
     .type = CFG_STRING,
     .def = "127.0.0.1",
     .offset = HTTP_OFF(listen),
     .desc = "Address the /healthz, /readyz and /metrics listener binds to "
             "(0.0.0.0 in a container)."},
    {.section = "http",
     .key = "port",
     .type = CFG_INT,
     .def = "18100",
     .min = 1,
     .max = 65535,
     .offset = HTTP_OFF(port),
     .desc = "Port of the health and metrics listener; each service sets its own "
             "default (18101..18109)."},
    {.section = "bus",
     .key = "bootstrap",
     .type = CFG_STRING,
     .def = "127.0.0.1:19092",
     .offset = BUS_OFF(bootstrap),
     .desc = "Kafka bootstrap servers, host:port[,host:port]."},
    {.section = "bus",
     .key = "registry_url",
     .type = CFG_STRING,
     .def = "http://127.0.0.1:18081",
     .offset = BUS_OFF(registry_url),
     .desc = "Base URL of the Confluent-compatible schema registry."},
    {.section = "bus",
     .key = "schema_dir",
     .type = CFG_STRING,
     .def = "schemas",
     .offset = BUS_OFF(schema_dir),
     .desc = "Directory holding one <topic>.avsc per logical topic."},
    {.section = "bus",
     .key = "topic_prefix",
     .type = CFG_STRING,
     .def = "",
     .offset = BUS_OFF(topic_prefix),
     .desc = "Prefix put before every logical topic name on the wire (e.g. plant1.)."},
    {.section = "bus",
     .key = "client_id",
     .type = CFG_STRING,
     .offset = BUS_OFF(client_id),
     .desc = "Kafka client.id; unset means the service name."},
    {.section = "bus",
     .key = "kafka",
     .type = CFG_STRING_MAP,
     .offset = BUS_OFF(kafka),
     .desc = "librdkafka properties passed through as is (security.protocol, ssl.*, "
             "sasl.*); values of keys naming a password are masked in the dump."},
    {.section = "bus",
     .key = "flush_timeout",
     .type = CFG_DURATION_MS,
     .def = "10s",
     .min = 0,
     .max = 600000,
     .offset = BUS_OFF(flush_timeout_ms),
     .desc = "How long shutdown waits for queued records to be delivered."},
    {.section = "plant",
     .key = "path",
     .type = CFG_STRING,
     .def = "tools/stack/plant.yaml",
     .offset = offsetof(cfg_common_t, plant.path),
     .desc = "Path of the plant model YAML shared by every service."},
    CFG_END,
};

int cfg_common_add(cfg_t *cfg, cfg_common_t *common, char *errstr, size_t errstr_size)
{
    memset(common, 0, sizeof *common);
    return cfg_add_table(cfg, cfg_common_options, common, errstr, errstr_size);
}
