# meter-sim is a Modbus TCP server built on libmodbus (Debian libmodbus-dev).
LDLIBS_meter-sim := -lmodbus
