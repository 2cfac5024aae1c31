from feasibility.cli import main

main()
