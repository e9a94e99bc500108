from geo_label.cli import main

main()
