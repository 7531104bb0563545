# scada-gateway links libmodbus (Debian libmodbus-dev) for its Modbus TCP poller,
# libmosquitto for MQTT and zlib (zlib1g-dev) for the spool records' CRC-32.
LDLIBS_scada-gateway := -lmodbus -lmosquitto -lz
