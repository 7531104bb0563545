# bench-scada reads the simulator with libmodbus directly for its baseline.
LDLIBS_bench-scada := -lmodbus
