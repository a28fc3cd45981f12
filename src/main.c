#include <stdio.h>

#include "azidt/log.h"

int main(void)
{
    AZIDT_LOG_INFO("azidt-webhook skeleton");
    return 0;
}
