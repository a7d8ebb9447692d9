"""The control-plane process: event-sourced application, reconcilers, supervision."""
