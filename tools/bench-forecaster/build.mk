# The bench times the forecaster core, so it links the core archive too.
LDLIBS_bench-forecaster := -lxgboost
$(B)/bin/bench-forecaster: $(B)/lib/forecaster.a
