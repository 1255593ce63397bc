"""The Collector: 5-minute prices from Coinspot into `price_data_5min`, the prices API and
history import (see DEVELOPMENT.md, "Collector")."""
