# bench-ingester encodes its raw COPY with the ingester's own COPY encoder
# (libems.a is linked after every archive; see tool_rules).
$(B)/bin/bench-ingester: $(B)/lib/ingester.a
LDLIBS_bench-ingester := -lz
