/*
 * plant: the plant model shared by every service, loaded from one YAML file
 * (docs/plant-model.md): sites with their time zone, capacity, market and
 * tariff; meters with their Modbus device and register map; equipment with
 * its flexibility.
 *
 * plant_load() validates everything at once and fails with one line
 * "FILE:LINE: what: reason" (unknown site, duplicate id, min > max,
 * overlapping registers on one device, unknown data type, bad time zone...).
 * Unknown keys are refused like in config files.
 *
 * The model is read-only after loading: every pointer returned borrows from
 * the plant_t and stays valid until plant_destroy(). Any thread may read a
 * loaded model concurrently.
 */
#ifndef EMS_PLANT_PLANT_H
#define EMS_PLANT_PLANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct plant_s plant_t;

/* ---- sites and tariffs ---- */

/* Day bits of a tariff window: bit 0 Monday .. bit 6 Sunday, bit 7 holiday. */
#define PLANT_DAY_HOLIDAY (1u << 7)

typedef struct plant_tariff_window {
    uint8_t days;  /* PLANT_DAY_* bit set */
    int start_min; /* site-local minute of day, inclusive */
    int end_min;   /* exclusive; 1440 = midnight; end < start wraps midnight */
} plant_tariff_window_t;

typedef struct plant_tariff_period {
    const char *name;          /* "peak", "offpeak", ... */
    double energy_eur_per_mwh; /* network/tariff charge added to the energy price */
    plant_tariff_window_t *windows;
    size_t nwindows; /* 0: the period applies whenever none before it does */
} plant_tariff_period_t;

typedef struct plant_tariff {
    const char *name;
    double demand_charge_eur_per_kw; /* per billing period, on the peak import */
    const char *billing_period;      /* "month" or "year" */
    plant_tariff_period_t *periods;  /* first match wins */
    size_t nperiods;
} plant_tariff_t;

typedef struct plant_site {
    const char *id;
    const char *name;
    const char *timezone;        /* IANA name, e.g. "Europe/Amsterdam" */
    const char *market;          /* bidding zone / market, e.g. "NL" */
    double contracted_import_kw; /* > 0 */
    bool has_export_limit;
    double export_limit_kw; /* >= 0 when has_export_limit */
    plant_tariff_t tariff;
    int32_t *holidays; /* sorted dates as YYYYMMDD */
    size_t nholidays;
    int line;
} plant_site_t;

/* ---- meters and registers ---- */

typedef enum {
    PLANT_Q_POWER_KW = 0,
    PLANT_Q_ENERGY_KWH,
    PLANT_Q_VOLTAGE_V,
    PLANT_Q_CURRENT_A,
    PLANT_Q_FREQUENCY_HZ,
    PLANT_Q_POWER_FACTOR,
} plant_quantity_t;

typedef enum { PLANT_REG_HOLDING = 0, PLANT_REG_INPUT } plant_regtype_t;

typedef enum {
    PLANT_DT_INT16 = 0,
    PLANT_DT_UINT16,
    PLANT_DT_INT32,
    PLANT_DT_UINT32,
    PLANT_DT_FLOAT32,
    PLANT_DT_FLOAT64,
    PLANT_DT_UINT64,
} plant_dtype_t;

typedef enum { PLANT_ORDER_BIG = 0, PLANT_ORDER_LITTLE } plant_order_t;

/* A Modbus TCP device: host, port and unit id. */
typedef struct plant_device {
    const char *host;
    int port;    /* 1..65535, default 502 */
    int unit_id; /* 0..255, default 1 */
} plant_device_t;

/* One register (group of 1, 2 or 4 words). The value in the quantity's
 * canonical unit (kW, kWh, V, A, Hz, 1) is
 *   (raw * scale + offset) * unit_factor
 * where unit_factor converts the device unit (W, MWh, kV...) to canonical. */
typedef struct plant_register {
    plant_quantity_t quantity;
    plant_regtype_t reg_type;
    int address; /* 0..65535, first word */
    plant_dtype_t dtype;
    plant_order_t word_order; /* BIG: most significant word first */
    plant_order_t byte_order; /* BIG: Modbus standard within a word */
    double scale;             /* default 1 */
    double offset;            /* default 0 */
    const char *unit;         /* "W", "kW", "MW", "Wh", "kWh", "MWh", "V", "kV", "A",
                                 "Hz", "" */
    double unit_factor;       /* derived from unit */
    int line;
} plant_register_t;

typedef enum {
    PLANT_METER_MAIN = 0,
    PLANT_METER_SUB,
    PLANT_METER_EQUIPMENT,
} plant_meter_kind_t;

typedef struct plant_meter {
    const char *id;
    const char *site_id;
    const char *name;
    plant_meter_kind_t kind;
    const char *equipment_id; /* for kind equipment; may be NULL */
    plant_device_t device;
    int poll_period_ms;  /* > 0 */
    double power_min_kw; /* physical range: readings outside are implausible */
    double power_max_kw;
    plant_register_t *registers;
    size_t nregisters;
    int line;
} plant_meter_t;

/* ---- equipment ---- */

typedef enum {
    PLANT_EQ_DEFERRABLE = 0, /* a task with an energy per window (batch) */
    PLANT_EQ_PROCESS,        /* continuous process with a production SLA */
    PLANT_EQ_STORAGE,        /* battery or thermal store */
    PLANT_EQ_GENERIC,        /* a controllable load within a power range */
} plant_equipment_kind_t;

typedef struct plant_storage {
    double capacity_kwh;                            /* > 0 */
    double soc_min, soc_max;                        /* fractions 0..1, min <= max */
    double soc_initial;                             /* within [soc_min, soc_max] */
    double charge_efficiency, discharge_efficiency; /* (0, 1] */
    double standing_loss_per_h; /* fraction of the content lost per hour */
    double draw_kw;             /* constant draw by the process (thermal stores) */
} plant_storage_t;

typedef struct plant_process {
    double specific_kwh_per_unit; /* energy per unit produced */
    double output_per_day;        /* SLA: units to produce per site-local day */
    const char *output_unit;      /* "t", "Nm3", ... */
} plant_process_t;

typedef struct plant_equipment {
    const char *id;
    const char *site_id;
    const char *name;
    plant_equipment_kind_t kind;
    const char *meter_id; /* its equipment meter, or NULL */
    bool control_enabled; /* may the recommender send commands */
    bool has_setpoint;
    plant_device_t setpoint_device;
    plant_register_t setpoint;         /* a holding register, in kW */
    double power_min_kw, power_max_kw; /* when running; storage: min < 0 discharges */
    double ramp_kw_per_slot;           /* 0: unlimited */
    double energy_per_window_kwh;      /* 0: none */
    int earliest_start_min;            /* site-local minute of day, -1: none */
    int deadline_min;                  /* -1: none; <= earliest_start: next day */
    int min_run_min, min_rest_min;
    bool interruptible;
    int max_starts_per_day; /* 0: unlimited */
    double startup_cost_eur;
    bool has_storage;
    plant_storage_t storage; /* kind storage */
    bool has_process;
    plant_process_t process; /* kind process */
    int line;
} plant_equipment_t;

/* ---- loading ---- */

/* Loads and validates the model at path. Returns the model, or NULL with a
 * one-line errstr "FILE:LINE: what: reason". Time zones are checked against
 * $TZDIR or /usr/share/zoneinfo. The caller owns the result. */
plant_t *plant_load(const char *path, char *errstr, size_t errstr_size);
/* Same from len bytes of text; name stands for the file in messages. */
plant_t *plant_load_string(const char *name, const char *text, size_t len, char *errstr,
                           size_t errstr_size);
/* Frees the model and everything borrowed from it. NULL is a no-op. */
void plant_destroy(plant_t *p);

/* ---- look-ups (NULL when absent) ---- */

size_t plant_site_count(const plant_t *p);
const plant_site_t *plant_site_at(const plant_t *p, size_t i);
const plant_site_t *plant_site(const plant_t *p, const char *id);

size_t plant_meter_count(const plant_t *p);
const plant_meter_t *plant_meter_at(const plant_t *p, size_t i);
const plant_meter_t *plant_meter(const plant_t *p, const char *id);
/* Iterates the meters of a site in file order: pass NULL for the first,
 * then the previous result; NULL at the end. */
const plant_meter_t *plant_site_meter_next(const plant_t *p, const char *site_id,
                                           const plant_meter_t *prev);

size_t plant_equipment_count(const plant_t *p);
const plant_equipment_t *plant_equipment_at(const plant_t *p, size_t i);
const plant_equipment_t *plant_equipment(const plant_t *p, const char *id);
const plant_equipment_t *plant_site_equipment_next(const plant_t *p,
                                                   const char *site_id,
                                                   const plant_equipment_t *prev);

/* The register of a meter measuring quantity q, or NULL. */
const plant_register_t *plant_meter_register(const plant_meter_t *m,
                                             plant_quantity_t q);

/* ---- calendars and tariffs ---- */

/* True when the site-local date is in the site's holiday list. */
bool plant_site_is_holiday(const plant_site_t *s, int year, int month, int day);
/* The tariff period in force at a site-local time: wday 0 = Monday .. 6 =
 * Sunday, minute 0..1439; on a holiday, windows with the holiday bit match
 * (and weekday bits do not). NULL when the site has no period matching. */
const plant_tariff_period_t *plant_tariff_period_at(const plant_site_t *s, int wday,
                                                    int minute, bool holiday);

/* ---- register codec ---- */

/* Number of 16-bit words of a data type (1, 2 or 4). */
int plant_dtype_words(plant_dtype_t t);
/* Decodes words (as read from the device, each word in host order) into the
 * quantity's canonical unit. */
double plant_register_decode(const plant_register_t *r, const uint16_t *words);
/* Encodes a value in canonical units into words (plant_dtype_words() of
 * them); integers are rounded and saturated. For setpoints and simulators. */
void plant_register_encode(const plant_register_t *r, double value, uint16_t *words);
/* The factor that converts a value in unit to quantity q's canonical unit
 * (1000 for "MW" of power_kw), or NAN when unit is not a unit of q. The
 * units are those a register's unit may name. */
double plant_unit_factor(plant_quantity_t q, const char *unit);

/* Names as written in the YAML ("power_kw", "float32", ...). */
const char *plant_quantity_name(plant_quantity_t q);
const char *plant_dtype_name(plant_dtype_t t);
const char *plant_meter_kind_name(plant_meter_kind_t k);
const char *plant_equipment_kind_name(plant_equipment_kind_t k);

#endif
