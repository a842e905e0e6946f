from hivelog.cli import main

main()
