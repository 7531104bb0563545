# bench-ingester encodes its raw COPY with the ingester's own COPY encoder;
# libems.a again after the core archive (it needs libs/db).
$(B)/bin/bench-ingester: $(B)/lib/ingester.a
LDLIBS_bench-ingester := $(B)/libems.a -lz
