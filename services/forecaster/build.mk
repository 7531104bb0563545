LDLIBS_forecaster := -lxgboost
