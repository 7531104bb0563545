# scada-gateway links libmodbus (Debian libmodbus-dev) for its Modbus TCP poller.
LDLIBS_scada-gateway := -lmodbus -lmosquitto
