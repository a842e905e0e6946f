module github.com/hivelog/hivelog/clients/go/hivelog

go 1.19
