# throughput.gp: bench/suite's plot of throughput against concurrency.
# gnuplot -e "datafile='...'; outfile='...'" throughput.gp
# The data file has four blocks (manifest GET, 1 KB blob, 1 MB blob,
# 100 MB blob), each with the columns: clients, depot hosted, depot
# proxied-warm, nginx, docker-registry hosted, docker-registry proxy.
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
	set terminal pngcairo size 1200,900 font ",10"
} else {
	set terminal png size 1200,900
}
set output outfile
set multiplot layout 2,2 title "depot, nginx and docker-registry on loopback: throughput against concurrency"
set logscale x 2
set xtics (1, 4, 16, 64)
set xrange [0.8:80]
set grid
# The same colour for a server in every chart: depot, nginx, docker-registry.
set style line 1 lc rgb "#8b00b8" lw 2 pt 7
set style line 2 lc rgb "#8b00b8" lw 1 pt 6 dt 2
set style line 3 lc rgb "#009e73" lw 2 pt 5
set style line 4 lc rgb "#e69f00" lw 2 pt 9
set style line 5 lc rgb "#e69f00" lw 1 pt 8 dt 2
set key below
set xlabel "concurrent keep-alive connections"

set ylabel "requests/s (log scale)"
set logscale y 10
set yrange [*:*]
set title "manifest GET by tag (nginx: 4 KB file)"
plot datafile index 0 using 1:2 with linespoints ls 1 title "depot hosted", \
     '' index 0 using 1:3 with linespoints ls 2 title "depot proxied-warm", \
     '' index 0 using 1:4 with linespoints ls 3 title "nginx 4 KB", \
     '' index 0 using 1:5 with linespoints ls 4 title "docker-registry", \
     '' index 0 using 1:6 with linespoints ls 5 title "docker-registry proxy"

set title "1 KB blob GET (nginx: 4 KB file)"
plot datafile index 1 using 1:2 with linespoints ls 1 title "depot hosted", \
     '' index 1 using 1:3 with linespoints ls 2 title "depot proxied-warm", \
     '' index 1 using 1:4 with linespoints ls 3 title "nginx 4 KB", \
     '' index 1 using 1:5 with linespoints ls 4 title "docker-registry", \
     '' index 1 using 1:6 with linespoints ls 5 title "docker-registry proxy"

set ylabel "MB/s"
unset logscale y
set yrange [0:*]
set title "1 MB blob GET"
plot datafile index 2 using 1:2 with linespoints ls 1 title "depot", \
     '' index 2 using 1:4 with linespoints ls 3 title "nginx sendfile", \
     '' index 2 using 1:5 with linespoints ls 4 title "docker-registry"

set title "100 MB blob GET"
plot datafile index 3 using 1:2 with linespoints ls 1 title "depot", \
     '' index 3 using 1:4 with linespoints ls 3 title "nginx sendfile", \
     '' index 3 using 1:5 with linespoints ls 4 title "docker-registry"
unset multiplot
