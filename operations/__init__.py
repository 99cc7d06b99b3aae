"""Running the stack in production and releasing it: the dashboard generated from the code's metric
names, and the checks and template behind `make publish`. Not deployed."""
