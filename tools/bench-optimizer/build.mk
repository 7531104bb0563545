# bench-optimizer links the schedule optimizer core (it appears in $^).
$(B)/bin/bench-optimizer: $(B)/lib/schedule-optimizer.a
